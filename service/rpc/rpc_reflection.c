/* rpc_reflection.c - gRPC server reflection, grpc.reflection.v1 and v1alpha,
 * answered from the embedded descriptor set: list services, a file by name or
 * by a symbol it defines (with its imports). The two versions have the same
 * messages field for field, so one implementation, on v1's generated types,
 * serves both; replies are packed by their own descriptors. */
#include <stdlib.h>
#include <string.h>

#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "rpc_internal.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_req;
typedef Grpc__Reflection__V1__ServerReflectionResponse refl_resp;

static void reply_error(refl_resp *resp, Grpc__Reflection__V1__ErrorResponse *er, mvm_code code,
                        const char *msg) {
    er->error_code = code;
    er->error_message = (char *)msg;
    resp->message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    resp->error_response = er;
}

static void answer(rpc_server *srv, const refl_req *req, void *call) {
    const rpc_descset *ds = &srv->ds;
    refl_resp resp = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    Grpc__Reflection__V1__ErrorResponse er = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    Grpc__Reflection__V1__FileDescriptorResponse fdr = GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
    Grpc__Reflection__V1__ListServiceResponse lsr = GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
    Grpc__Reflection__V1__ExtensionNumberResponse enr = GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT;
    resp.valid_host = req->host;
    resp.original_request = (refl_req *)req;
    int *files = NULL;
    ProtobufCBinaryData *blobs = NULL;
    Grpc__Reflection__V1__ServiceResponse *svcs = NULL;
    Grpc__Reflection__V1__ServiceResponse **svcp = NULL;
    int idx = -1;

    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES: {
        size_t n = srv->reg.nservices;
        svcs = calloc(n ? n : 1, sizeof *svcs);
        svcp = calloc(n ? n : 1, sizeof *svcp);
        if (!svcs || !svcp) {
            reply_error(&resp, &er, MVM_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        for (size_t i = 0; i < n; i++) {
            grpc__reflection__v1__service_response__init(&svcs[i]);
            svcs[i].name = srv->reg.services[i];
            svcp[i] = &svcs[i];
        }
        lsr.n_service = n;
        lsr.service = svcp;
        resp.message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
        resp.list_services_response = &lsr;
        break;
    }
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        idx = rpc_descset_file_by_name(ds, req->file_by_filename);
        if (idx < 0)
            reply_error(&resp, &er, MVM_NOT_FOUND, "no such file");
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        idx = rpc_descset_file_by_symbol(ds, req->file_containing_symbol);
        if (idx < 0)
            reply_error(&resp, &er, MVM_NOT_FOUND, "no such symbol");
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        if (rpc_descset_file_by_symbol(ds, req->all_extension_numbers_of_type) < 0) {
            reply_error(&resp, &er, MVM_NOT_FOUND, "no such type");
        } else { /* no served message declares extension ranges that are used */
            enr.base_type_name = req->all_extension_numbers_of_type;
            resp.message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
            resp.all_extension_numbers_response = &enr;
        }
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        reply_error(&resp, &er, MVM_NOT_FOUND, "no such extension");
        break;
    default:
        reply_error(&resp, &er, MVM_INVALID_ARGUMENT, "empty reflection request");
        break;
    }
    if (idx >= 0) {
        files = calloc(ds->nfiles, sizeof *files);
        blobs = calloc(ds->nfiles, sizeof *blobs);
        if (!files || !blobs) {
            reply_error(&resp, &er, MVM_RESOURCE_EXHAUSTED, "out of memory");
        } else {
            size_t n = rpc_descset_closure(ds, idx, files);
            if (n == 0) /* at least the file itself: out of memory */
                reply_error(&resp, &er, MVM_RESOURCE_EXHAUSTED, "out of memory");
            for (size_t i = 0; i < n; i++) {
                blobs[i].data = ds->files[files[i]].bytes;
                blobs[i].len = ds->files[files[i]].len;
            }
            if (n > 0) {
                fdr.n_file_descriptor_proto = n;
                fdr.file_descriptor_proto = blobs;
                resp.message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
                resp.file_descriptor_response = &fdr;
            }
        }
    }
    if (rpc_send(call, &resp.base) == MVM_RESOURCE_EXHAUSTED)
        rpc_failf(call, MVM_RESOURCE_EXHAUSTED, "out of memory sending a reflection reply");
    free(files);
    free(blobs);
    free(svcs);
    free(svcp);
}

static void v1_server_reflection_info(Grpc__Reflection__V1__ServerReflection_Service *svc,
                                      const Grpc__Reflection__V1__ServerReflectionRequest *req,
                                      Grpc__Reflection__V1__ServerReflectionResponse_Closure done,
                                      void *call) {
    answer(rpc_call_service_data(call), req, call);
}

/* Same layout, other package: read it through v1's struct. */
static void v1alpha_server_reflection_info(
    Grpc__Reflection__V1alpha__ServerReflection_Service *svc,
    const Grpc__Reflection__V1alpha__ServerReflectionRequest *req,
    Grpc__Reflection__V1alpha__ServerReflectionResponse_Closure done, void *call) {
    answer(rpc_call_service_data(call), (const refl_req *)req, call);
}

static Grpc__Reflection__V1__ServerReflection_Service v1_service =
    GRPC__REFLECTION__V1__SERVER_REFLECTION__INIT(v1_);
static Grpc__Reflection__V1alpha__ServerReflection_Service v1alpha_service =
    GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION__INIT(v1alpha_);

/* Bidirectional: one answer per request, in order, from memory. */
static const rpc_method_rule reflection_rules[] = {
    {"ServerReflectionInfo", RPC_EXEC_INLINE},
};

mvm_code rpc_reflection_register(rpc_server *srv, mvm_error *err) {
    if (rpc_registry_add(srv, &v1_service.base, reflection_rules, RPC_RULES(reflection_rules),
                         srv, err) != MVM_OK)
        return err->code;
    return rpc_registry_add(srv, &v1alpha_service.base, reflection_rules,
                            RPC_RULES(reflection_rules), srv, err);
}
