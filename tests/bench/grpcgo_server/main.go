// grpcgo_server - the reference server for tests/bench/bench_get.sh: Debian's
// grpc-go serving mvm.v1.TenantService/GetTenant from an in-memory map over
// TLS with a client certificate required, so h2load measures the same call
// against mvmd and against grpc-go. Other TenantService methods are
// UNIMPLEMENTED except CreateTenant, which fills the map.
//
//	grpcgo_server -listen 127.0.0.1:0 -cert server.pem -key server.key \
//	    -ca ca.pem -tenant bench -ready-file F   # F gets "tls HOST:PORT"
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"

	mvmv1 "mvm/api/mvm/v1"
	_ "mvm/client" // the protobuf codec Debian's grpc-go needs for these stubs

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type tenants struct {
	mvmv1.UnimplementedTenantServiceServer
	mu sync.RWMutex
	m  map[string]*mvmv1.Tenant
}

func (s *tenants) GetTenant(ctx context.Context, req *mvmv1.GetTenantRequest) (*mvmv1.Tenant, error) {
	s.mu.RLock()
	t, ok := s.m[req.GetName()]
	s.mu.RUnlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "tenant %q not found", req.GetName())
	}
	return t, nil
}

func (s *tenants) CreateTenant(ctx context.Context, req *mvmv1.CreateTenantRequest) (*mvmv1.Tenant, error) {
	t := proto.Clone(req.GetTenant()).(*mvmv1.Tenant)
	if t.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "tenant.name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.m[t.Name]; dup {
		return nil, status.Errorf(codes.AlreadyExists, "tenant %q exists", t.Name)
	}
	t.CreateTime, t.UpdateTime = timestamppb.Now(), timestamppb.Now()
	t.ResourceVersion = uint64(len(s.m) + 1)
	s.m[t.Name] = t
	return t, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "HOST:PORT")
	cert := flag.String("cert", "", "server certificate (PEM)")
	key := flag.String("key", "", "server key (PEM)")
	ca := flag.String("ca", "", "CA that client certificates must chain to")
	name := flag.String("tenant", "bench", "tenant to preload (empty: none)")
	ready := flag.String("ready-file", "", "file to write \"tls HOST:PORT\" to once listening")
	flag.Parse()

	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		log.Fatal(err)
	}
	pem, err := ioutil.ReadFile(*ca)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		log.Fatalf("no certificates in %s", *ca)
	}
	creds := credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})

	svc := &tenants{m: map[string]*mvmv1.Tenant{}}
	if *name != "" {
		_, err = svc.CreateTenant(context.Background(), &mvmv1.CreateTenantRequest{Tenant: &mvmv1.Tenant{
			Name: *name, NetId: 1, Subnet: "10.240.1.0/24",
			Quota:  &mvmv1.TenantQuota{MaxInstances: 10, MaxPools: 2},
			Labels: map[string]string{"bench": "yes"},
		}})
		if err != nil {
			log.Fatal(err)
		}
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	mvmv1.RegisterTenantServiceServer(srv, svc)
	if *ready != "" {
		line := fmt.Sprintf("tls %s\n", lis.Addr())
		if err := ioutil.WriteFile(*ready+".tmp", []byte(line), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(*ready+".tmp", *ready); err != nil {
			log.Fatal(err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sig; srv.GracefulStop() }()
	if err := srv.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
