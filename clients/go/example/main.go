// mvm-go-example - a tour of the mvm.v1 API from Go over mTLS: creates a
// tenant, a pool and an instance, lists them, watches the instance's
// deletion arrive as an event, and removes everything again.
//
//	mvm-go-example -endpoint 127.0.0.1:PORT -ca ca.pem -cert client.pem -key client.key
//	# or, with MVM_* set: tests/integration/harness.py --build build -- build/clients/go/mvm-go-example
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	mvmv1 "mvm/api/mvm/v1"
	"mvm/client"
)

func main() {
	endpoint := flag.String("endpoint", os.Getenv("MVM_ENDPOINT"), "mvmd HOST:PORT")
	ca := flag.String("ca", os.Getenv("MVM_CA"), "CA certificate (PEM)")
	cert := flag.String("cert", os.Getenv("MVM_CERT"), "client certificate (PEM)")
	key := flag.String("key", os.Getenv("MVM_KEY"), "client key (PEM)")
	tenant := flag.String("tenant", "example-go", "tenant to create")
	flag.Parse()
	if *endpoint == "" || *ca == "" || *cert == "" || *key == "" {
		log.Fatal("need -endpoint, -ca, -cert and -key (or MVM_* variables)")
	}
	conn, err := client.DialTLS(*endpoint, *ca, *cert, *key)
	if err != nil {
		log.Fatal(err)
	}
	c := client.New(conn)
	defer c.Close()
	if err := tour(c, *tenant); err != nil {
		log.Fatal(err)
	}
}

func tour(c *client.Client, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t, err := c.Tenants.CreateTenant(ctx, &mvmv1.CreateTenantRequest{Tenant: &mvmv1.Tenant{
		Name: name, NetId: 43, Subnet: "10.240.43.0/24",
		Quota:  &mvmv1.TenantQuota{MaxInstances: 4, MaxPools: 2},
		Labels: map[string]string{"env": "demo"},
	}})
	if err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	fmt.Printf("created tenant %s (version %d)\n", t.Name, t.ResourceVersion)
	_, err = c.Pools.CreatePool(ctx, &mvmv1.CreatePoolRequest{Pool: &mvmv1.Pool{
		Tenant: name, Name: "web", Vcpus: 1, MemMib: 256,
		KernelImage: "/var/lib/mvm/images/vmlinux", RootfsImage: "/var/lib/mvm/images/rootfs.ext4", BootArgs: "console=ttyS0",
	}})
	if err != nil {
		return fmt.Errorf("create pool: %w", err)
	}
	inst, err := c.Instances.CreateInstance(ctx, &mvmv1.CreateInstanceRequest{Tenant: name, Pool: "web"})
	if err != nil {
		return fmt.Errorf("create instance: %w", err)
	}
	fmt.Printf("created instance %s ip=%s mac=%s tap=%s\n", inst.Id, inst.Ip, inst.Mac, inst.Tap)

	list, err := c.Instances.ListInstances(ctx, &mvmv1.ListInstancesRequest{Tenant: name})
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	for _, i := range list.Instances {
		fmt.Printf("instance %s %s\n", i.Id, i.State)
	}

	// The first event is the existing instance (send_initial); once it has
	// arrived the watch is live, so the deletion is sure to be seen.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	stream, err := c.Instances.WatchInstances(wctx, &mvmv1.WatchInstancesRequest{Tenant: name, SendInitial: true})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	for first := true; ; first = false {
		ev, err := stream.Recv()
		if err == io.EOF {
			return fmt.Errorf("watch ended before the deletion")
		}
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		fmt.Printf("event %s %s\n", ev.Type, ev.Instance.GetId())
		if first {
			if _, err := c.Instances.DeleteInstance(ctx, &mvmv1.DeleteInstanceRequest{Tenant: name, Id: inst.Id}); err != nil {
				return fmt.Errorf("delete instance: %w", err)
			}
		}
		if ev.Type == mvmv1.InstanceEvent_DELETED {
			break
		}
	}
	wcancel()

	if _, err := c.Pools.DeletePool(ctx, &mvmv1.DeletePoolRequest{Tenant: name, Name: "web"}); err != nil {
		return fmt.Errorf("delete pool: %w", err)
	}
	if _, err := c.Tenants.DeleteTenant(ctx, &mvmv1.DeleteTenantRequest{Name: name}); err != nil {
		return fmt.Errorf("delete tenant: %w", err)
	}
	fmt.Println("cleaned up")
	return nil
}
