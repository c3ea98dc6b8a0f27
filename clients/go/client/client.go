// Package client dials mvmd from Go: mTLS over TCP or plaintext over the
// node-local Unix socket, and bundles the mvm.v1 service stubs. It lives in
// clients/go/client and is copied to the build GOPATH as "mvm/client".
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/ioutil"
	"net"
	"os"

	mvmv1 "mvm/api/mvm/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TLSConfig trusts the CA in caFile and, if certFile is not empty,
// presents that client certificate.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	pem, err := ioutil.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificates in %s", caFile)
	}
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// DialTLS connects to HOST:PORT with mTLS (lazily, as grpc.Dial does).
func DialTLS(endpoint, caFile, certFile, keyFile string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	cfg, err := TLSConfig(caFile, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}, opts...)
	return grpc.Dial(endpoint, opts...)
}

// DialUnix connects to mvmd's Unix socket without TLS.
func DialUnix(path string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	dialer := func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	opts = append([]grpc.DialOption{grpc.WithInsecure(), grpc.WithContextDialer(dialer)}, opts...)
	return grpc.Dial("passthrough:///mvmd.sock", opts...)
}

// DialEnv uses MVM_ENDPOINT, MVM_CA, MVM_CERT and MVM_KEY (as set by
// tests/integration/harness.py), or MVM_SOCKET if MVM_ENDPOINT is unset.
func DialEnv(opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	if ep := os.Getenv("MVM_ENDPOINT"); ep != "" {
		return DialTLS(ep, os.Getenv("MVM_CA"), os.Getenv("MVM_CERT"), os.Getenv("MVM_KEY"), opts...)
	}
	if sock := os.Getenv("MVM_SOCKET"); sock != "" {
		return DialUnix(sock, opts...)
	}
	return nil, fmt.Errorf("set MVM_ENDPOINT (+ MVM_CA, MVM_CERT, MVM_KEY) or MVM_SOCKET")
}

// Client holds a stub for every mvm.v1 service on one connection.
type Client struct {
	Conn      *grpc.ClientConn
	Tenants   mvmv1.TenantServiceClient
	Pools     mvmv1.PoolServiceClient
	Instances mvmv1.InstanceServiceClient
	Node      mvmv1.NodeServiceClient
}

// New wraps conn.
func New(conn *grpc.ClientConn) *Client {
	return &Client{
		Conn:      conn,
		Tenants:   mvmv1.NewTenantServiceClient(conn),
		Pools:     mvmv1.NewPoolServiceClient(conn),
		Instances: mvmv1.NewInstanceServiceClient(conn),
		Node:      mvmv1.NewNodeServiceClient(conn),
	}
}

// Close closes the connection.
func (c *Client) Close() error { return c.Conn.Close() }
