/* store_net_test.c - the network settings in storage/ (store_net.c and its
 * callers): Tenant.egress_cidrs on create, update (paths, implied, "*",
 * clearing) and Apply, each malformed entry refused naming it and changing
 * nothing; Instance.port_forwards on create and SetPortForwards (every
 * syntactic rule, ALREADY_EXISTS naming the instance that holds the port,
 * across tenants, ports freed when the holder is deleted or its list
 * replaced, a list kept by its own instance, NOT_FOUND, ABORTED, events and
 * audit), two threads racing for one port (exactly one wins); and
 * Pool.network_limits on create, update and Apply (10^12 the maximum). */
#include "check.h"
#include "store_testlib.c"

#include <pthread.h>

#define TCP MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_TCP
#define UDP MVM__V1__PORT_PROTOCOL__PORT_PROTOCOL_UDP
#define ACT(x) MVM__V1__APPLY_ACTION__APPLY_ACTION_##x
#define EV(x) MVM__V1__INSTANCE_EVENT__TYPE__##x

/* The last refusal's message contains want. */
#define CHECK_MSG_HAS(call, code, want)                                       \
    do {                                                                      \
        mvm_error e2_;                                                        \
        mvm_error_clear(&e2_);                                                \
        mvm_error *err_ = &e2_;                                               \
        CHECK_EQ_INT((call), (code));                                         \
        if (!strstr(e2_.msg, (want))) {                                       \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: \"%s\" does not mention \"%s\"\n",        \
                    __FILE__, __LINE__, e2_.msg, (want));                     \
        } else {                                                              \
            check_passed++;                                                   \
        }                                                                     \
    } while (0)

/* ---- egress CIDRs ---- */

static mvm_code mk_tenant_egress(store *st, const char *name, uint32_t net_id,
                                 const char *subnet, char **cidrs, size_t n, mvm_error *err) {
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT;
    t.name = (char *)name;
    t.net_id = net_id;
    t.subnet = (char *)subnet;
    t.egress_cidrs = cidrs;
    t.n_egress_cidrs = n;
    return store_tenant_create(st, &test_who, &t, NULL, NULL, err);
}

static void test_cidr_parse(void) {
    mvm_error err;
    uint32_t a = 1;
    unsigned len = 99;
    CHECK_EQ_INT(store_cidr_parse("203.0.113.0/24", &a, &len, &err), MVM_OK);
    CHECK(a == 0xcb007100u && len == 24);
    CHECK_EQ_INT(store_cidr_parse("0.0.0.0/0", &a, &len, &err), MVM_OK);
    CHECK(a == 0 && len == 0);
    CHECK_EQ_INT(store_cidr_parse("198.51.100.7/32", &a, &len, &err), MVM_OK);
    CHECK(a == 0xc6336407u && len == 32);
    CHECK_EQ_INT(store_cidr_parse("255.255.255.255/32", NULL, NULL, &err), MVM_OK);
    const char *bad[] = {"",          "10.0.0.0",     "10.0.0.0/",    "10.0.0/8",
                         "10.0.0.0/33", "256.0.0.0/8", "010.0.0.0/8", "10.0.0.0/08",
                         " 10.0.0.0/8", "10.0.0.0/8 ", "10.0.0.1/8",  "10.0.0.0/-1",
                         "a.b.c.d/8",  "10.0.0.0.0/8", "10.0.0.128/24", "1.2.3.5/31"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mvm_error_clear(&err);
        CHECK_EQ_INT(store_cidr_parse(bad[i], &a, &len, &err), MVM_INVALID_ARGUMENT);
        CHECK(err.msg[0] != '\0');
    }
    CHECK_EQ_INT(store_cidr_parse(NULL, NULL, NULL, &err), MVM_INVALID_ARGUMENT);
    store_cidr_parse("10.0.0.1/8", NULL, NULL, &err);
    CHECK(strstr(err.msg, "10.0.0.0/8") != NULL); /* says what was meant */
}

static void test_egress_create(store *st) {
    mvm_error err;
    char *ok[] = {"203.0.113.0/24", "198.51.100.7/32", "0.0.0.0/0"};
    CHECK_EQ_INT(mk_tenant_egress(st, "eg", 30, "10.240.30.0/24", ok, 3, &err), MVM_OK);
    Mvm__V1__Tenant *t = NULL;
    CHECK_EQ_INT(store_tenant_get(st, "eg", NULL, &t, &err), MVM_OK);
    CHECK(t && t->n_egress_cidrs == 3 && strcmp(t->egress_cidrs[0], "203.0.113.0/24") == 0 &&
          strcmp(t->egress_cidrs[2], "0.0.0.0/0") == 0);
    if (t)
        mvm__v1__tenant__free_unpacked(t, NULL);

    /* each bad entry: refused, the message names it, nothing stored */
    struct {
        const char *cidr, *says;
    } bad[] = {{"203.0.113.1/24", "host bits"},  {"10.0.0.0/33", "out of range 0-32"},
               {"10.0.0.0", "canonical"},        {"010.0.0.0/8", "canonical"},
               {"example.com/8", "canonical"},   {"", "empty"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *l[] = {"192.0.2.0/24", (char *)bad[i].cidr};
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                      mk_tenant_egress(st, "eg2", 31, "10.240.31.0/24", l, 2, err_));
        CHECK_MSG_HAS(mk_tenant_egress(st, "eg2", 31, "10.240.31.0/24", l, 2, err_),
                      MVM_INVALID_ARGUMENT, bad[i].says);
        CHECK_MSG_HAS(mk_tenant_egress(st, "eg2", 31, "10.240.31.0/24", l, 2, err_),
                      MVM_INVALID_ARGUMENT, "egress_cidrs[1]");
    }
    char *dup[] = {"192.0.2.0/24", "203.0.113.0/24", "192.0.2.0/24"};
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  mk_tenant_egress(st, "eg2", 31, "10.240.31.0/24", dup, 3, err_));
    CHECK_MSG_HAS(mk_tenant_egress(st, "eg2", 31, "10.240.31.0/24", dup, 3, err_),
                  MVM_INVALID_ARGUMENT, "192.0.2.0/24 appears twice");

    /* 64 allowed, 65 not */
    char bufs[65][24];
    char *many[65];
    for (int i = 0; i < 65; i++) {
        snprintf(bufs[i], sizeof bufs[i], "192.0.%d.0/24", i);
        many[i] = bufs[i];
    }
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  mk_tenant_egress(st, "eg2", 31, "10.240.31.0/24", many, 65, err_));
    CHECK_MSG_HAS(mk_tenant_egress(st, "eg2", 31, "10.240.31.0/24", many, 65, err_),
                  MVM_INVALID_ARGUMENT, "at most 64");
    CHECK_EQ_INT(mk_tenant_egress(st, "eg2", 31, "10.240.31.0/24", many, 64, &err), MVM_OK);
    CHECK_EQ_INT(store_tenant_delete(st, &test_who, "eg2", &err), MVM_OK);
}

static size_t egress_count(store *st, const char *name, const char *first) {
    Mvm__V1__Tenant *t = NULL;
    mvm_error err;
    size_t n = 999;
    if (store_tenant_get(st, name, NULL, &t, &err) == MVM_OK) {
        n = t->n_egress_cidrs;
        if (first && (n == 0 || strcmp(t->egress_cidrs[0], first) != 0))
            n = 998;
        mvm__v1__tenant__free_unpacked(t, NULL);
    }
    return n;
}

static mvm_code update_egress(store *st, const char *name, char **cidrs, size_t n,
                              const char *path, mvm_error *err) {
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT;
    t.name = (char *)name;
    t.egress_cidrs = cidrs;
    t.n_egress_cidrs = n;
    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[] = {(char *)path};
    m.paths = paths;
    m.n_paths = path ? 1 : 0;
    return store_tenant_update(st, &test_who, &t, &m, NULL, NULL, err);
}

static void test_egress_update(store *st) {
    mvm_error err;
    char *one[] = {"192.0.2.0/24"};
    /* no mask: a set list replaces the stored one */
    CHECK_EQ_INT(update_egress(st, "eg", one, 1, NULL, &err), MVM_OK);
    CHECK_EQ_INT(egress_count(st, "eg", "192.0.2.0/24"), 1);
    /* no mask and no list: kept */
    CHECK_EQ_INT(update_egress(st, "eg", NULL, 0, "labels", &err), MVM_OK);
    CHECK_EQ_INT(egress_count(st, "eg", "192.0.2.0/24"), 1);
    /* a bad list: refused, the stored one kept */
    char *bad[] = {"192.0.2.0/24", "192.0.2.1/32", "192.0.3.0/23"};
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, update_egress(st, "eg", bad, 3, NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  update_egress(st, "eg", bad, 3, "egress_cidrs", err_));
    CHECK_MSG_HAS(update_egress(st, "eg", bad, 3, "egress_cidrs", err_), MVM_INVALID_ARGUMENT,
                  "egress_cidrs[2]");
    CHECK_REFUSED(st, MVM_NOT_FOUND, update_egress(st, "nope", one, 1, NULL, err_));
    /* the path with an empty list clears (egress open) */
    CHECK_EQ_INT(update_egress(st, "eg", NULL, 0, "egress_cidrs", &err), MVM_OK);
    CHECK_EQ_INT(egress_count(st, "eg", NULL), 0);
    /* "*" replaces it too */
    CHECK_EQ_INT(update_egress(st, "eg", one, 1, "*", &err), MVM_OK);
    CHECK_EQ_INT(egress_count(st, "eg", "192.0.2.0/24"), 1);
}

/* ---- Apply carries egress_cidrs and network_limits ---- */

static void test_apply(store *st) {
    mvm_error err;
    Mvm__V1__ApplyRequest req = MVM__V1__APPLY_REQUEST__INIT;
    Mvm__V1__Tenant t = MVM__V1__TENANT__INIT, *tp = &t;
    Mvm__V1__Pool p, *pp = &p;
    Mvm__V1__NetworkLimits nl = MVM__V1__NETWORK_LIMITS__INIT;
    char *cidrs[] = {"203.0.113.0/24", "198.51.100.0/24"};
    t.name = "ap";
    t.net_id = 40;
    t.subnet = "10.240.40.0/24";
    t.egress_cidrs = cidrs;
    t.n_egress_cidrs = 2;
    pool_init(&p, "ap", "web");
    nl.rx_bytes_per_second = 1000000;
    p.network_limits = &nl;
    req.generation = 1;
    req.tenants = &tp;
    req.n_tenants = 1;
    req.pools = &pp;
    req.n_pools = 1;
    Mvm__V1__ApplyResponse *r = NULL;
    CHECK_EQ_INT(store_apply(st, &test_who, &req, NULL, &r, &err), MVM_OK);
    CHECK(r && r->n_changes == 2 && r->changes[0]->action == ACT(CREATED));
    if (r)
        mvm__v1__apply_response__free_unpacked(r, NULL);
    CHECK_EQ_INT(egress_count(st, "ap", "203.0.113.0/24"), 2);
    Mvm__V1__Pool *got = pool_of(st, "ap", "web");
    CHECK(got && got->network_limits && got->network_limits->rx_bytes_per_second == 1000000);
    if (got)
        mvm__v1__pool__free_unpacked(got, NULL);

    /* the same again: unchanged */
    req.generation = 2;
    r = NULL;
    CHECK_EQ_INT(store_apply(st, &test_who, &req, NULL, &r, &err), MVM_OK);
    CHECK(r && r->n_changes == 2 && r->changes[0]->action == ACT(UNCHANGED) &&
          r->changes[1]->action == ACT(UNCHANGED) && !r->changed);
    if (r)
        mvm__v1__apply_response__free_unpacked(r, NULL);

    /* changed: the fields are named */
    char *other[] = {"198.51.100.0/24", "203.0.113.0/24"}; /* another order is a change */
    t.egress_cidrs = other;
    nl.tx_packets_per_second = 5000;
    req.generation = 3;
    r = NULL;
    CHECK_EQ_INT(store_apply(st, &test_who, &req, NULL, &r, &err), MVM_OK);
    CHECK(r && r->n_changes == 2 && r->changes[0]->action == ACT(UPDATED) &&
          r->changes[0]->n_fields == 1 && strcmp(r->changes[0]->fields[0], "egress_cidrs") == 0);
    CHECK(r && r->n_changes == 2 && r->changes[1]->action == ACT(UPDATED) &&
          r->changes[1]->n_fields == 1 &&
          strcmp(r->changes[1]->fields[0], "network_limits.tx_packets_per_second") == 0);
    if (r)
        mvm__v1__apply_response__free_unpacked(r, NULL);
    CHECK_EQ_INT(egress_count(st, "ap", "198.51.100.0/24"), 2);

    /* bad values: refused, nothing changes */
    char *bad[] = {"198.51.100.0/24", "198.51.100.0/24"};
    t.egress_cidrs = bad;
    req.generation = 4;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_apply(st, &test_who, &req, NULL, NULL, err_));
    t.egress_cidrs = other;
    nl.rx_packets_per_second = STORE_NETWORK_RATE_MAX + 1;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, store_apply(st, &test_who, &req, NULL, NULL, err_));
    nl.rx_packets_per_second = 0;
    /* an emptied list is a change to "open" */
    t.n_egress_cidrs = 0;
    r = NULL;
    CHECK_EQ_INT(store_apply(st, &test_who, &req, NULL, &r, &err), MVM_OK);
    CHECK(r && r->changes[0]->action == ACT(UPDATED));
    if (r)
        mvm__v1__apply_response__free_unpacked(r, NULL);
    CHECK_EQ_INT(egress_count(st, "ap", NULL), 0);
}

/* ---- network limits ---- */

static void test_limits(store *st) {
    mvm_error err;
    Mvm__V1__Pool p;
    Mvm__V1__NetworkLimits nl = MVM__V1__NETWORK_LIMITS__INIT;
    pool_init(&p, "eg", "lim");
    p.network_limits = &nl;
    nl.rx_bytes_per_second = STORE_NETWORK_RATE_MAX;
    nl.tx_bytes_per_second = 125000000;
    nl.rx_packets_per_second = 1;
    nl.tx_packets_per_second = 0;
    CHECK_EQ_INT(store_pool_create(st, &test_who, &p, NULL, NULL, &err), MVM_OK);
    Mvm__V1__Pool *got = pool_of(st, "eg", "lim");
    CHECK(got && got->network_limits &&
          got->network_limits->rx_bytes_per_second == STORE_NETWORK_RATE_MAX &&
          got->network_limits->tx_bytes_per_second == 125000000 &&
          got->network_limits->rx_packets_per_second == 1);
    if (got)
        mvm__v1__pool__free_unpacked(got, NULL);

    const char *names[] = {"rx_bytes_per_second", "tx_bytes_per_second",
                           "rx_packets_per_second", "tx_packets_per_second"};
    for (int k = 0; k < 4; k++) {
        Mvm__V1__NetworkLimits b = MVM__V1__NETWORK_LIMITS__INIT;
        uint64_t *f[] = {&b.rx_bytes_per_second, &b.tx_bytes_per_second,
                         &b.rx_packets_per_second, &b.tx_packets_per_second};
        *f[k] = STORE_NETWORK_RATE_MAX + 1;
        pool_init(&p, "eg", "lim2");
        p.network_limits = &b;
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                      store_pool_create(st, &test_who, &p, NULL, NULL, err_));
        CHECK_MSG_HAS(store_pool_create(st, &test_who, &p, NULL, NULL, err_),
                      MVM_INVALID_ARGUMENT, names[k]);
        *f[k] = UINT64_MAX;
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                      store_pool_create(st, &test_who, &p, NULL, NULL, err_));
    }

    /* update: a sub-field path, a bad value refused, the path "network_limits"
     * with none clears them */
    Mvm__V1__Pool u = MVM__V1__POOL__INIT;
    Mvm__V1__NetworkLimits un = MVM__V1__NETWORK_LIMITS__INIT;
    u.tenant = "eg";
    u.name = "lim";
    u.network_limits = &un;
    un.tx_packets_per_second = 777;
    Google__Protobuf__FieldMask m = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *path[] = {"network_limits.tx_packets_per_second"};
    m.paths = path;
    m.n_paths = 1;
    CHECK_EQ_INT(store_pool_update(st, &test_who, &u, &m, NULL, NULL, &err), MVM_OK);
    got = pool_of(st, "eg", "lim");
    CHECK(got && got->network_limits && got->network_limits->tx_packets_per_second == 777 &&
          got->network_limits->rx_bytes_per_second == STORE_NETWORK_RATE_MAX);
    if (got)
        mvm__v1__pool__free_unpacked(got, NULL);
    un.tx_packets_per_second = STORE_NETWORK_RATE_MAX + 1;
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_pool_update(st, &test_who, &u, &m, NULL, NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT,
                  store_pool_update(st, &test_who, &u, NULL, NULL, NULL, err_));
    u.network_limits = NULL;
    path[0] = "network_limits";
    CHECK_EQ_INT(store_pool_update(st, &test_who, &u, &m, NULL, NULL, &err), MVM_OK);
    got = pool_of(st, "eg", "lim");
    CHECK(got && (!got->network_limits || (got->network_limits->rx_bytes_per_second == 0 &&
                                           got->network_limits->tx_packets_per_second == 0)));
    if (got)
        mvm__v1__pool__free_unpacked(got, NULL);
}

/* ---- port forwards ---- */

typedef struct {
    Mvm__V1__PortForward f[40];
    Mvm__V1__PortForward *p[40];
    size_t n;
} pf_list;

static void pf_add(pf_list *l, Mvm__V1__PortProtocol proto, uint32_t host, uint32_t inst) {
    Mvm__V1__PortForward *f = &l->f[l->n];
    mvm__v1__port_forward__init(f);
    f->protocol = proto;
    f->host_port = host;
    f->instance_port = inst;
    l->p[l->n++] = f;
}

static mvm_code mk_inst_pf(store *st, const char *tenant, const char *pool, const pf_list *l,
                           char *id, mvm_error *err) {
    Mvm__V1__CreateInstanceRequest r = MVM__V1__CREATE_INSTANCE_REQUEST__INIT;
    r.tenant = (char *)tenant;
    r.pool = (char *)pool;
    r.port_forwards = (Mvm__V1__PortForward **)l->p;
    r.n_port_forwards = l->n;
    return mk_inst_req(st, &r, id, err);
}

static mvm_code set_pf(store *st, const char *tenant, const char *id, const pf_list *l,
                       uint64_t version, Mvm__V1__Instance **out, mvm_error *err) {
    return store_instance_set_port_forwards(st, &test_who, tenant, id,
                                            (Mvm__V1__PortForward *const *)l->p, l->n, version,
                                            NULL, out, err);
}

static void test_forward_rules(store *st) {
    mvm_error err;
    CHECK_EQ_INT(mk_pool(st, "eg", "web", &err), MVM_OK);
    pf_list ok = {.n = 0};
    pf_add(&ok, TCP, 8080, 80);
    pf_add(&ok, UDP, 8080, 53);    /* the same port, another protocol */
    pf_add(&ok, TCP, 65535, 65535);
    pf_add(&ok, UDP, 1, 1);
    char id[19];
    CHECK_EQ_INT(mk_inst_pf(st, "eg", "web", &ok, id, &err), MVM_OK);
    Mvm__V1__Instance *i = NULL;
    CHECK_EQ_INT(store_instance_get(st, "eg", id, NULL, &i, &err), MVM_OK);
    CHECK(i && i->n_port_forwards == 4 && i->port_forwards[0]->protocol == TCP &&
          i->port_forwards[0]->host_port == 8080 && i->port_forwards[0]->instance_port == 80 &&
          i->port_forwards[1]->protocol == UDP && i->port_forwards[3]->host_port == 1);
    CHECK(i && strcmp(i->tap, "tap0") == 0);
    if (i)
        mvm__v1__instance__free_unpacked(i, NULL);

    /* each syntactic rule, on create and on SetPortForwards */
    struct {
        int proto;
        uint32_t host, inst;
        const char *says;
    } bad[] = {{0, 9000, 80, "not TCP or UDP"},        {7, 9000, 80, "not TCP or UDP"},
               {TCP, 0, 80, "host_port 0"},            {TCP, 65536, 80, "host_port 65536"},
               {UDP, 9000, 0, "instance_port 0"},      {UDP, 9000, 70000, "instance_port 70000"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        pf_list l = {.n = 0};
        pf_add(&l, TCP, 9100, 80);
        pf_add(&l, (Mvm__V1__PortProtocol)bad[k].proto, bad[k].host, bad[k].inst);
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, mk_inst_pf(st, "eg", "web", &l, NULL, err_));
        CHECK_MSG_HAS(mk_inst_pf(st, "eg", "web", &l, NULL, err_), MVM_INVALID_ARGUMENT,
                      bad[k].says);
        CHECK_MSG_HAS(mk_inst_pf(st, "eg", "web", &l, NULL, err_), MVM_INVALID_ARGUMENT,
                      "port_forwards[1]");
        CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, set_pf(st, "eg", id, &l, 0, NULL, err_));
    }
    pf_list dup = {.n = 0};
    pf_add(&dup, TCP, 9200, 80);
    pf_add(&dup, UDP, 9200, 80);
    pf_add(&dup, TCP, 9200, 81);
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, mk_inst_pf(st, "eg", "web", &dup, NULL, err_));
    CHECK_MSG_HAS(mk_inst_pf(st, "eg", "web", &dup, NULL, err_), MVM_INVALID_ARGUMENT,
                  "tcp host_port 9200 is given twice");
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, set_pf(st, "eg", id, &dup, 0, NULL, err_));

    /* 32 allowed, 33 not */
    pf_list many = {.n = 0};
    for (uint32_t k = 0; k < 33; k++)
        pf_add(&many, TCP, 20000 + k, 80);
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, mk_inst_pf(st, "eg", "web", &many, NULL, err_));
    CHECK_MSG_HAS(mk_inst_pf(st, "eg", "web", &many, NULL, err_), MVM_INVALID_ARGUMENT,
                  "at most 32");
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, set_pf(st, "eg", id, &many, 0, NULL, err_));
    many.n = 32;
    char id32[19];
    CHECK_EQ_INT(mk_inst_pf(st, "eg", "web", &many, id32, &err), MVM_OK);
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "eg", id32, 0xffffu, &err), MVM_OK);

    /* SetPortForwards on what does not exist */
    CHECK_REFUSED(st, MVM_NOT_FOUND,
                  set_pf(st, "eg", "i-0000000000000000", &ok, 0, NULL, err_));
    CHECK_REFUSED(st, MVM_NOT_FOUND, set_pf(st, "nope", id, &ok, 0, NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, set_pf(st, "eg", "i-xyz", &ok, 0, NULL, err_));
    CHECK_REFUSED(st, MVM_INVALID_ARGUMENT, set_pf(st, "", id, &ok, 0, NULL, err_));
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "eg", id, 0xffffu, &err), MVM_OK);
}

typedef struct {
    int n, types[8];
    char ids[8][19];
} ev_log;

static void ev_hook(void *arg, Mvm__V1__InstanceEvent__Type type, const Mvm__V1__Instance *inst,
                    uint64_t rev) {
    (void)rev;
    ev_log *l = arg;
    if (l->n < 8) {
        l->types[l->n] = type;
        snprintf(l->ids[l->n], sizeof l->ids[0], "%s", inst->id);
        l->n++;
    }
}

typedef struct {
    char object[160], method[80];
    bool found;
} audit_find;

static bool audit_last(void *arg, const Mvm__V1__AuditRecord *rec) {
    audit_find *a = arg;
    snprintf(a->object, sizeof a->object, "%s", rec->object ? rec->object : "");
    snprintf(a->method, sizeof a->method, "%s", rec->method ? rec->method : "");
    a->found = true;
    return true;
}

static void test_forward_uniqueness(store *st) {
    mvm_error err;
    CHECK_EQ_INT(mk_tenant(st, "other", 50, "10.240.50.0/24", &err), MVM_OK);
    CHECK_EQ_INT(mk_pool(st, "other", "web", &err), MVM_OK);
    pf_list a_pf = {.n = 0};
    pf_add(&a_pf, TCP, 8080, 80);
    pf_add(&a_pf, UDP, 5353, 53);
    char a[19], b[19];
    CHECK_EQ_INT(mk_inst_pf(st, "eg", "web", &a_pf, a, &err), MVM_OK);

    /* another instance, in the same tenant or another: ALREADY_EXISTS naming a */
    pf_list clash = {.n = 0};
    pf_add(&clash, TCP, 9000, 90);
    pf_add(&clash, TCP, 8080, 8080);
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS, mk_inst_pf(st, "eg", "web", &clash, NULL, err_));
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS, mk_inst_pf(st, "other", "web", &clash, NULL, err_));
    CHECK_MSG_HAS(mk_inst_pf(st, "other", "web", &clash, NULL, err_), MVM_ALREADY_EXISTS, a);
    CHECK_MSG_HAS(mk_inst_pf(st, "other", "web", &clash, NULL, err_), MVM_ALREADY_EXISTS,
                  "tcp host port 8080");
    /* the other protocol on that port is free */
    pf_list b_pf = {.n = 0};
    pf_add(&b_pf, UDP, 8080, 80);
    CHECK_EQ_INT(mk_inst_pf(st, "other", "web", &b_pf, b, &err), MVM_OK);

    /* SetPortForwards: b cannot take a's port ... */
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS, set_pf(st, "other", b, &clash, 0, NULL, err_));
    CHECK_MSG_HAS(set_pf(st, "other", b, &clash, 0, NULL, err_), MVM_ALREADY_EXISTS, a);
    /* ... a keeps its own ports when it sets a list holding them again */
    ev_log log = {.n = 0};
    store_set_instance_hook(st, ev_hook, &log);
    Mvm__V1__Instance *got = NULL;
    pf_add(&a_pf, TCP, 8443, 443);
    uint64_t rev0 = test_rev(st);
    CHECK_EQ_INT(set_pf(st, "eg", a, &a_pf, 0, &got, &err), MVM_OK);
    CHECK(got && got->n_port_forwards == 3 && got->port_forwards[2]->host_port == 8443 &&
          got->resource_version == rev0 + 1);
    CHECK_EQ_INT(log.n, 1);
    CHECK_EQ_INT(log.types[0], EV(MODIFIED));
    CHECK_EQ_STR(log.ids[0], a);
    audit_find af = {.found = false};
    CHECK_EQ_INT(store_audit_foreach(st, 0, audit_last, &af, &err), MVM_OK);
    char want_obj[64];
    snprintf(want_obj, sizeof want_obj, "instance/%s", a);
    CHECK(af.found && strcmp(af.object, want_obj) == 0);
    CHECK_EQ_STR(af.method, test_who.method);

    /* a stale resource_version: ABORTED, nothing changed */
    uint64_t v = got ? got->resource_version : 0;
    if (got)
        mvm__v1__instance__free_unpacked(got, NULL);
    CHECK_REFUSED(st, MVM_ABORTED, set_pf(st, "eg", a, &a_pf, v - 1, NULL, err_));
    CHECK_EQ_INT(set_pf(st, "eg", a, &a_pf, v, NULL, &err), MVM_OK);

    /* a's list replaced: tcp 8080 is free for b */
    pf_list a2 = {.n = 0};
    pf_add(&a2, TCP, 7000, 70);
    CHECK_EQ_INT(set_pf(st, "eg", a, &a2, 0, NULL, &err), MVM_OK);
    CHECK_EQ_INT(set_pf(st, "other", b, &clash, 0, NULL, &err), MVM_OK);
    /* and now a cannot have it back */
    pf_list a3 = {.n = 0};
    pf_add(&a3, TCP, 9000, 1);
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS, set_pf(st, "eg", a, &a3, 0, NULL, err_));
    CHECK_MSG_HAS(set_pf(st, "eg", a, &a3, 0, NULL, err_), MVM_ALREADY_EXISTS, b);
    /* an empty list clears b's forwards */
    pf_list none = {.n = 0};
    CHECK_EQ_INT(set_pf(st, "other", b, &none, 0, &got, &err), MVM_OK);
    CHECK(got && got->n_port_forwards == 0);
    if (got)
        mvm__v1__instance__free_unpacked(got, NULL);
    CHECK_EQ_INT(set_pf(st, "eg", a, &a3, 0, NULL, &err), MVM_OK);

    /* deleting the holder frees its ports */
    CHECK_REFUSED(st, MVM_ALREADY_EXISTS, mk_inst_pf(st, "other", "web", &a3, NULL, err_));
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "eg", a, 0xffffu, &err), MVM_OK);
    char c[19];
    CHECK_EQ_INT(mk_inst_pf(st, "other", "web", &a3, c, &err), MVM_OK);
    store_set_instance_hook(st, NULL, NULL);
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "other", b, 0xffffu, &err), MVM_OK);
    CHECK_EQ_INT(store_instance_delete(st, &test_who, "other", c, 0xffffu, &err), MVM_OK);
}

/* Two threads create instances asking for the same port at once: exactly
 * one gets it, the other is ALREADY_EXISTS, every round. */
typedef struct {
    store *st;
    const char *tenant;
    uint32_t port;
    pthread_barrier_t *go;
    mvm_code code;
    char id[19];
} racer;

static void *race_one(void *arg) {
    racer *r = arg;
    pf_list l = {.n = 0};
    pf_add(&l, TCP, r->port, 80);
    mvm_error err;
    pthread_barrier_wait(r->go);
    r->code = mk_inst_pf(r->st, r->tenant, "web", &l, r->id, &err);
    return NULL;
}

static void test_forward_race(store *st) {
    mvm_error err;
    for (uint32_t round = 0; round < 20; round++) {
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        racer r[2] = {{st, "eg", 30000 + round, &go, MVM_INTERNAL, ""},
                      {st, "other", 30000 + round, &go, MVM_INTERNAL, ""}};
        pthread_t th[2];
        for (int k = 0; k < 2; k++)
            pthread_create(&th[k], NULL, race_one, &r[k]);
        for (int k = 0; k < 2; k++)
            pthread_join(th[k], NULL);
        pthread_barrier_destroy(&go);
        int won = (r[0].code == MVM_OK) + (r[1].code == MVM_OK);
        int lost = (r[0].code == MVM_ALREADY_EXISTS) + (r[1].code == MVM_ALREADY_EXISTS);
        CHECK_EQ_INT(won, 1);
        CHECK_EQ_INT(lost, 1);
        for (int k = 0; k < 2; k++)
            if (r[k].code == MVM_OK)
                CHECK_EQ_INT(store_instance_delete(st, &test_who, r[k].tenant, r[k].id,
                                                   0xffffu, &err),
                             MVM_OK);
    }
}

int main(void) {
    char *dir = test_mkdir();
    store *st = test_open(dir);
    test_cidr_parse();
    test_egress_create(st);
    test_egress_update(st);
    test_apply(st);
    test_limits(st);
    test_forward_rules(st);
    test_forward_uniqueness(st);
    test_forward_race(st);
    store_close(st);
    test_rmdir(dir);
    return check_done();
}
