// transport_test.go - what the Go client sees of mvmd's transport: gRPC
// health, server reflection (v1alpha with grpc-go's own client, v1 with the
// stubs from proto/), refused client certificates, the Unix socket.
package goclienttest

import (
	"context"
	"io"
	"os"
	"testing"

	reflv1 "mvm/api/grpc/reflection/v1"
	mvmv1 "mvm/api/mvm/v1"
	"mvm/client"

	protov1 "github.com/golang/protobuf/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

var mvmServices = []string{"mvm.v1.TenantService", "mvm.v1.PoolService",
	"mvm.v1.InstanceService", "mvm.v1.NodeService"}

func TestHealth(t *testing.T) {
	h := healthpb.NewHealthClient(cl.Conn)
	for _, svc := range append([]string{""}, mvmServices...) {
		r, err := h.Check(ctx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q): %v, %v", svc, r, err)
		}
	}
	_, err := h.Check(ctx(t), &healthpb.HealthCheckRequest{Service: "no.Such"})
	wantCode(t, "Check of an unknown service", err, codes.NotFound)

	wctx, cancel := context.WithCancel(ctx(t))
	w, err := h.Watch(wctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Watch: %v, %v", r, err)
	}
	cancel()
	if _, err := w.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Watch after cancel: %v", err)
	}
}

// answer is what a test needs of a reflection response, whichever version.
type answer struct {
	services []string
	files    [][]byte
	errCode  int32
}

// biStream is the part of a generated bidi stream client used here.
type biStream[Req, Resp any] interface {
	Send(Req) error
	Recv() (Resp, error)
	CloseSend() error
}

// exchange sends one request on a fresh stream, half-closes it, and
// returns the one response; it fails the test on any error or on a second
// response.
func exchange[Req, Resp any](t *testing.T, s biStream[Req, Resp], err error, req Req) Resp {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err = s.Send(req); err != nil {
		t.Fatal(err)
	}
	s.CloseSend()
	r, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if _, err = s.Recv(); err != io.EOF {
		t.Errorf("after the one response: %v, want EOF", err)
	}
	return r
}

// toAnswer reads a v1 response; v1alpha ones are converted through the wire
// format, which the two versions share.
func toAnswer(t *testing.T, r *reflv1.ServerReflectionResponse) answer {
	var a answer
	for _, svc := range r.GetListServicesResponse().GetService() {
		a.services = append(a.services, svc.Name)
	}
	a.files = r.GetFileDescriptorResponse().GetFileDescriptorProto()
	a.errCode = r.GetErrorResponse().GetErrorCode()
	return a
}

func v1alphaToV1(t *testing.T, r *reflv1alpha.ServerReflectionResponse) *reflv1.ServerReflectionResponse {
	raw, err := protov1.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	out := &reflv1.ServerReflectionResponse{}
	if err = proto.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// files parses the FileDescriptorProtos of an answer, by file name.
func files(t *testing.T, a answer) map[string]*descriptorpb.FileDescriptorProto {
	out := map[string]*descriptorpb.FileDescriptorProto{}
	for _, raw := range a.files {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, fd); err != nil {
			t.Fatalf("bad FileDescriptorProto: %v", err)
		}
		out[fd.GetName()] = fd
	}
	return out
}

func checkReflection(t *testing.T, ask func(list, symbol, file string) answer) {
	have := map[string]bool{}
	for _, s := range ask("*", "", "").services {
		have[s] = true
	}
	for _, s := range append(mvmServices, "grpc.health.v1.Health") {
		if !have[s] {
			t.Errorf("list_services lacks %s (has %v)", s, have)
		}
	}
	fs := files(t, ask("", "mvm.v1.InstanceService", ""))
	fd := fs["mvm/v1/instance.proto"]
	if fd == nil {
		t.Fatalf("file_containing_symbol: no mvm/v1/instance.proto in %d files", len(fs))
	}
	for _, dep := range fd.Dependency {
		if fs[dep] == nil {
			t.Errorf("dependency %s not sent", dep)
		}
	}
	streaming := false
	for _, s := range fd.Service {
		for _, m := range s.Method {
			if m.GetName() == "WatchInstances" {
				streaming = m.GetServerStreaming()
			}
		}
	}
	if !streaming {
		t.Errorf("WatchInstances is not server-streaming in the reflected descriptor")
	}
	fs = files(t, ask("", "", "mvm/v1/tenant.proto"))
	if fd := fs["mvm/v1/tenant.proto"]; fd == nil || fd.GetPackage() != "mvm.v1" {
		t.Errorf("file_by_filename(mvm/v1/tenant.proto): %v", fd)
	}
	if a := ask("", "mvm.v1.NoSuchSymbol", ""); a.errCode != int32(codes.NotFound) {
		t.Errorf("unknown symbol: error_code %d, want NOT_FOUND", a.errCode)
	}
}

// request builds a v1 request asking one of the three things.
func request(list, symbol, file string) *reflv1.ServerReflectionRequest {
	req := &reflv1.ServerReflectionRequest{}
	switch {
	case list != "":
		req.MessageRequest = &reflv1.ServerReflectionRequest_ListServices{ListServices: list}
	case symbol != "":
		req.MessageRequest = &reflv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol}
	default:
		req.MessageRequest = &reflv1.ServerReflectionRequest_FileByFilename{FileByFilename: file}
	}
	return req
}

func TestReflectionV1alpha(t *testing.T) {
	checkReflection(t, func(list, symbol, file string) answer {
		raw, err := proto.Marshal(request(list, symbol, file))
		req := &reflv1alpha.ServerReflectionRequest{}
		if err == nil {
			err = protov1.Unmarshal(raw, req)
		}
		if err != nil {
			t.Fatal(err)
		}
		s, err := reflv1alpha.NewServerReflectionClient(cl.Conn).ServerReflectionInfo(ctx(t))
		r := exchange[*reflv1alpha.ServerReflectionRequest, *reflv1alpha.ServerReflectionResponse](t, s, err, req)
		return toAnswer(t, v1alphaToV1(t, r))
	})
}

func TestReflectionV1(t *testing.T) {
	checkReflection(t, func(list, symbol, file string) answer {
		s, err := reflv1.NewServerReflectionClient(cl.Conn).ServerReflectionInfo(ctx(t))
		req := request(list, symbol, file)
		return toAnswer(t, exchange[*reflv1.ServerReflectionRequest, *reflv1.ServerReflectionResponse](t, s, err, req))
	})
}
func refused(t *testing.T, what, ca, cert, key string) {
	conn, err := client.DialTLS(os.Getenv("MVM_ENDPOINT"), certFile(ca), cert, key)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = mvmv1.NewTenantServiceClient(conn).ListTenants(ctx(t), &mvmv1.ListTenantsRequest{})
	if c := status.Code(err); c != codes.Unavailable && c != codes.Unauthenticated {
		t.Errorf("%s: %v, want Unavailable or Unauthenticated", what, err)
	}
}

func TestRefusedCertificates(t *testing.T) {
	refused(t, "no client certificate", "ca.pem", "", "")
	refused(t, "client certificate of another CA", "ca.pem",
		certFile("other-client.pem"), certFile("other-client.key"))
}

func TestUnixSocket(t *testing.T) {
	m := createTenant(t, newTenantMsg("unix"))
	conn, err := client.DialUnix(os.Getenv("MVM_SOCKET"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got, err := mvmv1.NewTenantServiceClient(conn).GetTenant(ctx(t), &mvmv1.GetTenantRequest{Name: m.Name})
	if err != nil || got.Subnet != m.Subnet {
		t.Errorf("GetTenant over the Unix socket: %v, %v", got, err)
	}
	info, err := mvmv1.NewNodeServiceClient(conn).GetInfo(ctx(t), &mvmv1.GetInfoRequest{})
	if err != nil || info.Version == "" {
		t.Errorf("GetInfo over the Unix socket: %v, %v", info, err)
	}
}

func TestUnknownMethod(t *testing.T) {
	err := cl.Conn.Invoke(ctx(t), "/mvm.v1.TenantService/NoSuchMethod",
		&mvmv1.GetTenantRequest{}, &mvmv1.Tenant{}, grpc.WaitForReady(false))
	wantCode(t, "unknown method", err, codes.Unimplemented)
}
