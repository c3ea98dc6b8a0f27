// Package goclienttest drives a real mvmd with the Go client: run it under
// tests/integration/harness.py, which sets MVM_ENDPOINT, MVM_CA, MVM_CERT,
// MVM_KEY, MVM_CERTS_DIR and MVM_SOCKET. This file holds the shared setup
// and helpers; the *_test.go files beside it hold the tests.
package goclienttest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	mvmv1 "mvm/api/mvm/v1"
	"mvm/client"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// wait bounds every call and every awaited event.
const wait = 20 * time.Second

var (
	cl  *client.Client
	seq int32
)

func TestMain(m *testing.M) {
	if os.Getenv("MVM_ENDPOINT") == "" {
		fmt.Fprintln(os.Stderr, "MVM_ENDPOINT unset: run under tests/integration/harness.py")
		os.Exit(2)
	}
	conn, err := client.DialEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cl = client.New(conn)
	code := m.Run()
	cl.Close()
	os.Exit(code)
}

func certFile(name string) string { return filepath.Join(os.Getenv("MVM_CERTS_DIR"), name) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

// newTenantMsg returns a valid tenant whose name, net_id and subnet no
// other test uses.
func newTenantMsg(prefix string) *mvmv1.Tenant {
	n := 500 + atomic.AddInt32(&seq, 1)
	return &mvmv1.Tenant{
		Name:   fmt.Sprintf("go-%s-%d", prefix, n),
		NetId:  uint32(n),
		Subnet: fmt.Sprintf("10.%d.%d.0/24", 240+n/256, n%256),
	}
}

// createTenant creates m and registers a cleanup that removes the tenant
// with all its instances and pools.
func createTenant(t *testing.T, m *mvmv1.Tenant) *mvmv1.Tenant {
	t.Helper()
	got, err := cl.Tenants.CreateTenant(ctx(t), &mvmv1.CreateTenantRequest{Tenant: m})
	if err != nil {
		t.Fatalf("CreateTenant(%s): %v", m.Name, err)
	}
	t.Cleanup(func() { dropTenant(t, m.Name) })
	return got
}

func dropTenant(t *testing.T, name string) {
	c, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	insts, err := cl.Instances.ListInstances(c, &mvmv1.ListInstancesRequest{Tenant: name, PageSize: 1000})
	if err == nil {
		for _, i := range insts.Instances {
			cl.Instances.DeleteInstance(c, &mvmv1.DeleteInstanceRequest{Tenant: name, Id: i.Id})
		}
	}
	pools, err := cl.Pools.ListPools(c, &mvmv1.ListPoolsRequest{Tenant: name, PageSize: 1000})
	if err == nil {
		for _, p := range pools.Pools {
			cl.Pools.DeletePool(c, &mvmv1.DeletePoolRequest{Tenant: name, Name: p.Name})
		}
	}
	_, err = cl.Tenants.DeleteTenant(c, &mvmv1.DeleteTenantRequest{Name: name})
	if err != nil && status.Code(err) != codes.NotFound {
		t.Errorf("cleanup of tenant %s: %v", name, err)
	}
}

func poolMsg(tenant, name string) *mvmv1.Pool {
	return &mvmv1.Pool{Tenant: tenant, Name: name, Vcpus: 1, MemMib: 256,
		KernelImage: "/var/lib/mvm/images/vmlinux", RootfsImage: "/var/lib/mvm/images/rootfs.ext4"}
}

func createPool(t *testing.T, p *mvmv1.Pool) *mvmv1.Pool {
	t.Helper()
	got, err := cl.Pools.CreatePool(ctx(t), &mvmv1.CreatePoolRequest{Pool: p})
	if err != nil {
		t.Fatalf("CreatePool(%s/%s): %v", p.Tenant, p.Name, err)
	}
	return got
}

// wantCode fails the test unless err is a gRPC status with code want and
// a message.
func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	st, ok := status.FromError(err)
	switch {
	case err == nil:
		t.Errorf("%s: succeeded, want %v", what, want)
	case !ok:
		t.Errorf("%s: %v is not a gRPC status, want %v", what, err, want)
	case st.Code() != want:
		t.Errorf("%s: got %v (%s), want %v", what, st.Code(), st.Message(), want)
	case st.Message() == "":
		t.Errorf("%s: %v without a message", what, want)
	}
}
