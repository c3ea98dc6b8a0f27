// instance_test.go - instances through the Go client: create, list, quota,
// delete, lifecycle calls without a VMM driver, and WatchInstances events,
// cancellation and deadline.
package goclienttest

import (
	"context"
	"regexp"
	"testing"
	"time"

	mvmv1 "mvm/api/mvm/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestInstances(t *testing.T) {
	m := newTenantMsg("inst")
	m.Quota = &mvmv1.TenantQuota{MaxInstances: 1}
	createTenant(t, m)
	createPool(t, poolMsg(m.Name, "p"))
	i, err := cl.Instances.CreateInstance(ctx(t), &mvmv1.CreateInstanceRequest{Tenant: m.Name, Pool: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^i-[0-9a-f]{16}$`).MatchString(i.Id) || i.State != mvmv1.InstanceState_INSTANCE_STATE_CREATED {
		t.Errorf("CreateInstance returned %v", i)
	}
	_, err = cl.Instances.CreateInstance(ctx(t), &mvmv1.CreateInstanceRequest{Tenant: m.Name, Pool: "p"})
	wantCode(t, "CreateInstance over max_instances", err, codes.ResourceExhausted)
	_, err = cl.Instances.StartInstance(ctx(t), &mvmv1.StartInstanceRequest{Tenant: m.Name, Id: i.Id})
	wantCode(t, "StartInstance on a node without Firecracker", err, codes.FailedPrecondition)
	_, err = cl.Instances.SleepInstance(ctx(t), &mvmv1.SleepInstanceRequest{Tenant: m.Name, Id: i.Id})
	wantCode(t, "SleepInstance of a CREATED instance", err, codes.FailedPrecondition)
	list, err := cl.Instances.ListInstances(ctx(t), &mvmv1.ListInstancesRequest{Tenant: m.Name, Pool: "p"})
	if err != nil || len(list.Instances) != 1 || list.Instances[0].Id != i.Id {
		t.Fatalf("ListInstances: %v, %v", list, err)
	}
	_, err = cl.Pools.DeletePool(ctx(t), &mvmv1.DeletePoolRequest{Tenant: m.Name, Name: "p"})
	wantCode(t, "DeletePool with an instance", err, codes.FailedPrecondition)
	if _, err = cl.Instances.DeleteInstance(ctx(t), &mvmv1.DeleteInstanceRequest{Tenant: m.Name, Id: i.Id}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Instances.GetInstance(ctx(t), &mvmv1.GetInstanceRequest{Tenant: m.Name, Id: i.Id})
	wantCode(t, "GetInstance after delete", err, codes.NotFound)
}

// recvType receives until an event of type want for id arrives, skipping
// MODIFIED events of that instance (a teardown may report them first).
func recvType(t *testing.T, s mvmv1.InstanceService_WatchInstancesClient, want mvmv1.InstanceEvent_Type, id string) {
	t.Helper()
	for {
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("waiting for %v %s: %v", want, id, err)
		}
		if ev.Type == want && ev.Instance.GetId() == id {
			return
		}
		if ev.Type != mvmv1.InstanceEvent_MODIFIED || ev.Instance.GetId() != id {
			t.Fatalf("got %v %s, want %v %s", ev.Type, ev.Instance.GetId(), want, id)
		}
	}
}

func TestWatchInstances(t *testing.T) {
	m := newTenantMsg("watch")
	createTenant(t, m)
	createPool(t, poolMsg(m.Name, "p"))
	first, err := cl.Instances.CreateInstance(ctx(t), &mvmv1.CreateInstanceRequest{Tenant: m.Name, Pool: "p"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	s, err := cl.Instances.WatchInstances(wctx, &mvmv1.WatchInstancesRequest{Tenant: m.Name, SendInitial: true})
	if err != nil {
		t.Fatal(err)
	}
	recvType(t, s, mvmv1.InstanceEvent_ADDED, first.Id) // initial: the stream is live
	second, err := cl.Instances.CreateInstance(ctx(t), &mvmv1.CreateInstanceRequest{Tenant: m.Name, Pool: "p"})
	if err != nil {
		t.Fatal(err)
	}
	recvType(t, s, mvmv1.InstanceEvent_ADDED, second.Id)
	if _, err = cl.Instances.DeleteInstance(ctx(t), &mvmv1.DeleteInstanceRequest{Tenant: m.Name, Id: second.Id}); err != nil {
		t.Fatal(err)
	}
	recvType(t, s, mvmv1.InstanceEvent_DELETED, second.Id)
	cancel()
	if _, err = s.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv after cancel: %v, want Canceled", err)
	}
}

func TestWatchDeadline(t *testing.T) {
	wctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	s, err := cl.Instances.WatchInstances(wctx, &mvmv1.WatchInstancesRequest{Tenant: "go-quiet-tenant"})
	if err == nil {
		var ev *mvmv1.InstanceEvent
		ev, err = s.Recv()
		if err == nil {
			t.Fatalf("a watch with no changes sent %v", ev)
		}
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("watch past its deadline: %v, want DeadlineExceeded", err)
	}
}
