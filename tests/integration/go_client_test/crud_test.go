// crud_test.go - tenants and pools through the Go client: create, get,
// list with paging and label selectors, conditional updates, delete, and
// the status code of each refusal.
package goclienttest

import (
	"reflect"
	"sort"
	"testing"

	mvmv1 "mvm/api/mvm/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

func TestTenantCRUD(t *testing.T) {
	m := newTenantMsg("crud")
	m.Quota = &mvmv1.TenantQuota{MaxInstances: 2, MaxPools: 1}
	m.Labels = map[string]string{"team": "a"}
	got := createTenant(t, m)
	if got.Name != m.Name || got.NetId != m.NetId || got.Subnet != m.Subnet || got.ResourceVersion == 0 {
		t.Fatalf("CreateTenant returned %v", got)
	}
	if got.GetQuota().GetMaxPools() != 1 || got.Labels["team"] != "a" || got.GetCreateTime().GetSeconds() == 0 {
		t.Errorf("CreateTenant lost fields: %v", got)
	}
	_, err := cl.Tenants.CreateTenant(ctx(t), &mvmv1.CreateTenantRequest{Tenant: m})
	wantCode(t, "duplicate CreateTenant", err, codes.AlreadyExists)
	clash := newTenantMsg("clash")
	clash.Subnet = m.Subnet
	_, err = cl.Tenants.CreateTenant(ctx(t), &mvmv1.CreateTenantRequest{Tenant: clash})
	wantCode(t, "CreateTenant with a taken subnet", err, codes.AlreadyExists)
	bad := newTenantMsg("bad")
	bad.Name = "Not_A_Label"
	_, err = cl.Tenants.CreateTenant(ctx(t), &mvmv1.CreateTenantRequest{Tenant: bad})
	wantCode(t, "CreateTenant with a bad name", err, codes.InvalidArgument)

	upd := &mvmv1.Tenant{Name: m.Name, Labels: map[string]string{"team": "b"},
		Quota: &mvmv1.TenantQuota{MaxInstances: 9, MaxPools: 9}}
	u, err := cl.Tenants.UpdateTenant(ctx(t), &mvmv1.UpdateTenantRequest{Tenant: upd,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Labels["team"] != "b" || u.GetQuota().GetMaxPools() != 1 || u.ResourceVersion <= got.ResourceVersion {
		t.Errorf("UpdateTenant(labels) gave %v", u)
	}
	upd.ResourceVersion = got.ResourceVersion // stale now
	_, err = cl.Tenants.UpdateTenant(ctx(t), &mvmv1.UpdateTenantRequest{Tenant: upd,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"quota"}}})
	wantCode(t, "UpdateTenant with a stale resource_version", err, codes.Aborted)
	now, err := cl.Tenants.GetTenant(ctx(t), &mvmv1.GetTenantRequest{Name: m.Name})
	if err != nil || now.GetQuota().GetMaxPools() != 1 {
		t.Errorf("after the aborted update: %v, %v", now, err)
	}

	if _, err = cl.Tenants.DeleteTenant(ctx(t), &mvmv1.DeleteTenantRequest{Name: m.Name}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Tenants.GetTenant(ctx(t), &mvmv1.GetTenantRequest{Name: m.Name})
	wantCode(t, "GetTenant after delete", err, codes.NotFound)
}

func TestTenantListPagingAndSelector(t *testing.T) {
	var all, gold []string
	for i := 0; i < 5; i++ {
		m := newTenantMsg("list")
		m.Labels = map[string]string{"suite": "go-list"}
		if i%2 == 0 {
			m.Labels["tier"] = "gold"
			gold = append(gold, m.Name)
		}
		all = append(all, createTenant(t, m).Name)
	}
	sort.Strings(all)
	sort.Strings(gold)
	list := func(sel string, size uint32) (names []string, pages int) {
		token := ""
		for {
			r, err := cl.Tenants.ListTenants(ctx(t), &mvmv1.ListTenantsRequest{
				PageSize: size, PageToken: token, LabelSelector: sel})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Tenants) > int(size) {
				t.Fatalf("page of %d with page_size %d", len(r.Tenants), size)
			}
			for _, x := range r.Tenants {
				names = append(names, x.Name)
			}
			if pages++; r.NextPageToken == "" || pages > 100 {
				return names, pages
			}
			token = r.NextPageToken
		}
	}
	if names, pages := list("suite=go-list", 2); !reflect.DeepEqual(names, all) || pages != 3 {
		t.Errorf("paged list: %v in %d pages, want %v in 3", names, pages, all)
	}
	if names, _ := list("suite=go-list,tier=gold", 10); !reflect.DeepEqual(names, gold) {
		t.Errorf("tier=gold: %v, want %v", names, gold)
	}
	if names, _ := list("suite=go-list,!tier", 10); len(names) != len(all)-len(gold) {
		t.Errorf("!tier: %v", names)
	}
}

func TestPoolCRUD(t *testing.T) {
	m := newTenantMsg("pool")
	m.Quota = &mvmv1.TenantQuota{MaxPools: 1}
	createTenant(t, m)
	_, err := cl.Pools.CreatePool(ctx(t), &mvmv1.CreatePoolRequest{Pool: poolMsg("go-no-such", "p")})
	wantCode(t, "CreatePool in a missing tenant", err, codes.NotFound)
	bad := poolMsg(m.Name, "p")
	bad.Vcpus = 0
	_, err = cl.Pools.CreatePool(ctx(t), &mvmv1.CreatePoolRequest{Pool: bad})
	wantCode(t, "CreatePool with 0 vcpus", err, codes.InvalidArgument)
	p := createPool(t, poolMsg(m.Name, "p"))
	_, err = cl.Pools.CreatePool(ctx(t), &mvmv1.CreatePoolRequest{Pool: poolMsg(m.Name, "p")})
	wantCode(t, "duplicate CreatePool", err, codes.AlreadyExists)
	_, err = cl.Pools.CreatePool(ctx(t), &mvmv1.CreatePoolRequest{Pool: poolMsg(m.Name, "q")})
	wantCode(t, "CreatePool over max_pools", err, codes.ResourceExhausted)

	upd := poolMsg(m.Name, "p")
	upd.DesiredInstances = 4
	u, err := cl.Pools.UpdatePool(ctx(t), &mvmv1.UpdatePoolRequest{Pool: upd,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"desired_instances"}}})
	if err != nil || u.DesiredInstances != 4 || u.ResourceVersion <= p.ResourceVersion {
		t.Fatalf("UpdatePool: %v, %v", u, err)
	}
	upd.ResourceVersion = p.ResourceVersion
	_, err = cl.Pools.UpdatePool(ctx(t), &mvmv1.UpdatePoolRequest{Pool: upd,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"desired_instances"}}})
	wantCode(t, "UpdatePool with a stale resource_version", err, codes.Aborted)

	_, err = cl.Tenants.DeleteTenant(ctx(t), &mvmv1.DeleteTenantRequest{Name: m.Name})
	wantCode(t, "DeleteTenant with a pool", err, codes.FailedPrecondition)
	if _, err = cl.Pools.DeletePool(ctx(t), &mvmv1.DeletePoolRequest{Tenant: m.Name, Name: "p"}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Pools.GetPool(ctx(t), &mvmv1.GetPoolRequest{Tenant: m.Name, Name: "p"})
	wantCode(t, "GetPool after delete", err, codes.NotFound)
}
