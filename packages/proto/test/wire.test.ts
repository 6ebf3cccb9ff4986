// Guards the wire format of the generated protos against drift from the Go nodes.
//
// The tables below are written by hand from the wire facts (docs/wire-protocol.md, and the
// avalanchego v1.14.x / luxd schemas for rpcdb and the callback services), NOT derived from
// our .proto files: if anyone renumbers, retypes, renames or drops a field, method or enum
// value in proto/, this test fails. Every message, enum and service of every generated file
// must appear in the tables, so additions must be recorded here too.
//
// Field lines read like proto source: "[optional|repeated] <type> <name> = <number>". A type
// is a scalar name, an enum listed in `enums`, or otherwise a message type name.
import { create, ScalarType, toBinary, fromBinary } from "@bufbuild/protobuf"
import type { DescEnum, DescField, DescFile, DescMessage, DescMethod, DescService } from "@bufbuild/protobuf"
import { Edition, timestampFromMs } from "@bufbuild/protobuf/wkt"
import { createMethodUrl } from "@connectrpc/connect/protocol"
import { describe, expect, it } from "vitest"

import { file_aliasreader_aliasreader } from "@vmre/proto/aliasreader/aliasreader_pb"
import { file_appsender_appsender } from "@vmre/proto/appsender/appsender_pb"
import { file_grpc_health_v1_health } from "@vmre/proto/grpc/health/v1/health_pb"
import {
  file_io_prometheus_client_metrics,
  GaugeSchema,
  HistogramSchema,
  MetricFamilySchema,
  MetricType
} from "@vmre/proto/io/prometheus/client/metrics_pb"
import { file_rpcdb_rpcdb, IteratorNextResponseSchema } from "@vmre/proto/rpcdb/rpcdb_pb"
import { file_sharedmemory_sharedmemory } from "@vmre/proto/sharedmemory/sharedmemory_pb"
import { file_validatorstate_validatorstate, ValidatorSchema } from "@vmre/proto/validatorstate/validatorstate_pb"
import { file_vm_runtime_runtime, InitializeRequestSchema as RuntimeInitializeRequestSchema } from "@vmre/proto/vm/runtime/runtime_pb"
import {
  AppRequestFailedMsgSchema,
  BlockVerifyResponseSchema,
  BuildBlockRequestSchema,
  Error as VmError,
  file_vm_vm,
  GetBlockResponseSchema,
  ParseBlockResponseSchema,
  Status,
  VM
} from "@vmre/proto/vm/vm_pb"
import { file_warp_warp } from "@vmre/proto/warp/warp_pb"
import { file_http_http } from "@vmre/proto/http/http_pb"
import { file_http_responsewriter_responsewriter } from "@vmre/proto/http/responsewriter/responsewriter_pb"
import { file_io_reader_reader } from "@vmre/proto/io/reader/reader_pb"

// ---------------------------------------------------------------------------------------------
// The expected wire format.

const enums: Record<string, Record<string, number>> = {
  "vm.State": { STATE_UNSPECIFIED: 0, STATE_STATE_SYNCING: 1, STATE_BOOTSTRAPPING: 2, STATE_NORMAL_OP: 3 },
  "vm.Error": { ERROR_UNSPECIFIED: 0, ERROR_CLOSED: 1, ERROR_NOT_FOUND: 2, ERROR_STATE_SYNC_NOT_IMPLEMENTED: 3 },
  "vm.Status": { STATUS_UNSPECIFIED: 0, STATUS_PROCESSING: 1, STATUS_REJECTED: 2, STATUS_ACCEPTED: 3 },
  "vm.Message": { MESSAGE_UNSPECIFIED: 0, MESSAGE_BUILD_BLOCK: 1, MESSAGE_STATE_SYNC_FINISHED: 2 },
  "vm.StateSummaryAcceptResponse.Mode": { MODE_UNSPECIFIED: 0, MODE_SKIPPED: 1, MODE_STATIC: 2, MODE_DYNAMIC: 3 },
  "rpcdb.Error": { ERROR_UNSPECIFIED: 0, ERROR_CLOSED: 1, ERROR_NOT_FOUND: 2 },
  "io.reader.ErrorCode": { ERROR_CODE_UNSPECIFIED: 0, ERROR_CODE_EOF: 1 },
  "grpc.health.v1.HealthCheckResponse.ServingStatus": { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 },
  "io.prometheus.client.MetricType": {
    COUNTER: 0,
    GAUGE: 1,
    SUMMARY: 2,
    UNTYPED: 3,
    HISTOGRAM: 4,
    GAUGE_HISTOGRAM: 5
  }
}

const TS = "google.protobuf.Timestamp"
const blockState = [
  "bytes last_accepted_id = 1",
  "bytes last_accepted_parent_id = 2",
  "uint64 height = 3",
  "bytes bytes = 4",
  `${TS} timestamp = 5`
]
const summary = ["bytes id = 1", "uint64 height = 2", "bytes bytes = 3", "vm.Error err = 4"]

const messages: Record<string, ReadonlyArray<string>> = {
  // vm.runtime
  "vm.runtime.InitializeRequest": ["uint32 protocol_version = 1", "string addr = 2"],

  // vm
  "vm.InitializeRequest": [
    "uint32 network_id = 1",
    "bytes subnet_id = 2",
    "bytes chain_id = 3",
    "bytes node_id = 4",
    "bytes public_key = 5",
    "bytes x_chain_id = 6",
    "bytes c_chain_id = 7",
    "bytes avax_asset_id = 8",
    "string chain_data_dir = 9",
    "bytes genesis_bytes = 10",
    "bytes upgrade_bytes = 11",
    "bytes config_bytes = 12",
    "string db_server_addr = 13",
    "string server_addr = 14",
    "vm.NetworkUpgrades network_upgrades = 15"
  ],
  "vm.NetworkUpgrades": [
    `${TS} apricot_phase_1_time = 1`,
    `${TS} apricot_phase_2_time = 2`,
    `${TS} apricot_phase_3_time = 3`,
    `${TS} apricot_phase_4_time = 4`,
    "uint64 apricot_phase_4_min_p_chain_height = 5",
    `${TS} apricot_phase_5_time = 6`,
    `${TS} apricot_phase_pre_6_time = 7`,
    `${TS} apricot_phase_6_time = 8`,
    `${TS} apricot_phase_post_6_time = 9`,
    `${TS} banff_time = 10`,
    `${TS} cortina_time = 11`,
    "bytes cortina_x_chain_stop_vertex_id = 12",
    `${TS} durango_time = 13`,
    `${TS} etna_time = 14`,
    `${TS} fortuna_time = 15`,
    `${TS} granite_time = 16`,
    "google.protobuf.Duration granite_epoch_duration = 17",
    `${TS} helicon_time = 18`
  ],
  "vm.InitializeResponse": blockState,
  "vm.SetStateRequest": ["vm.State state = 1"],
  "vm.SetStateResponse": blockState,
  "vm.CreateHandlersResponse": ["repeated vm.Handler handlers = 1"],
  "vm.Handler": ["string prefix = 1", "string server_addr = 2"],
  "vm.NewHTTPHandlerResponse": ["string server_addr = 1"],
  "vm.WaitForEventResponse": ["vm.Message message = 1"],
  "vm.BuildBlockRequest": ["optional uint64 p_chain_height = 1"],
  "vm.BuildBlockResponse": [
    "bytes id = 1",
    "bytes parent_id = 2",
    "bytes bytes = 3",
    "uint64 height = 4",
    `${TS} timestamp = 5`,
    "bool verify_with_context = 6"
  ],
  "vm.ParseBlockRequest": ["bytes bytes = 1"],
  "vm.ParseBlockResponse": [
    "bytes id = 1",
    "bytes parent_id = 2",
    "vm.Status status = 3",
    "uint64 height = 4",
    `${TS} timestamp = 5`,
    "bool verify_with_context = 6"
  ],
  "vm.GetBlockRequest": ["bytes id = 1"],
  "vm.GetBlockResponse": [
    "bytes parent_id = 1",
    "bytes bytes = 2",
    "vm.Status status = 3",
    "uint64 height = 4",
    `${TS} timestamp = 5`,
    "vm.Error err = 6",
    "bool verify_with_context = 7"
  ],
  "vm.SetPreferenceRequest": ["bytes id = 1"],
  "vm.BlockVerifyRequest": ["bytes bytes = 1", "optional uint64 p_chain_height = 2"],
  "vm.BlockVerifyResponse": [`${TS} timestamp = 1`],
  "vm.BlockAcceptRequest": ["bytes id = 1"],
  "vm.BlockRejectRequest": ["bytes id = 1"],
  "vm.HealthResponse": ["bytes details = 1"],
  "vm.VersionResponse": ["string version = 1"],
  "vm.AppRequestMsg": ["bytes node_id = 1", "uint32 request_id = 2", `${TS} deadline = 3`, "bytes request = 4"],
  "vm.AppRequestFailedMsg": [
    "bytes node_id = 1",
    "uint32 request_id = 2",
    "sint32 error_code = 3",
    "string error_message = 4"
  ],
  "vm.AppResponseMsg": ["bytes node_id = 1", "uint32 request_id = 2", "bytes response = 3"],
  "vm.AppGossipMsg": ["bytes node_id = 1", "bytes msg = 2"],
  "vm.CrossChainAppRequestMsg": [
    "bytes chain_id = 1",
    "uint32 request_id = 2",
    `${TS} deadline = 3`,
    "bytes request = 4"
  ],
  "vm.CrossChainAppRequestFailedMsg": [
    "bytes chain_id = 1",
    "uint32 request_id = 2",
    "sint32 error_code = 3",
    "string error_message = 4"
  ],
  "vm.CrossChainAppResponseMsg": ["bytes chain_id = 1", "uint32 request_id = 2", "bytes response = 3"],
  "vm.ConnectedRequest": [
    "bytes node_id = 1",
    "string name = 2",
    "uint32 major = 3",
    "uint32 minor = 4",
    "uint32 patch = 5"
  ],
  "vm.DisconnectedRequest": ["bytes node_id = 1"],
  "vm.GetAncestorsRequest": [
    "bytes blk_id = 1",
    "int32 max_blocks_num = 2",
    "int32 max_blocks_size = 3",
    "int64 max_blocks_retrival_time = 4"
  ],
  "vm.GetAncestorsResponse": ["repeated bytes blks_bytes = 1"],
  "vm.BatchedParseBlockRequest": ["repeated bytes request = 1"],
  "vm.BatchedParseBlockResponse": ["repeated vm.ParseBlockResponse response = 1"],
  "vm.GetBlockIDAtHeightRequest": ["uint64 height = 1"],
  "vm.GetBlockIDAtHeightResponse": ["bytes blk_id = 1", "vm.Error err = 2"],
  "vm.GatherResponse": ["repeated io.prometheus.client.MetricFamily metric_families = 1"],
  "vm.StateSyncEnabledResponse": ["bool enabled = 1", "vm.Error err = 2"],
  "vm.GetOngoingSyncStateSummaryResponse": summary,
  "vm.GetLastStateSummaryResponse": summary,
  "vm.ParseStateSummaryRequest": ["bytes bytes = 1"],
  "vm.ParseStateSummaryResponse": ["bytes id = 1", "uint64 height = 2", "vm.Error err = 3"],
  "vm.GetStateSummaryRequest": ["uint64 height = 1"],
  "vm.GetStateSummaryResponse": ["bytes id = 1", "bytes bytes = 2", "vm.Error err = 3"],
  "vm.StateSummaryAcceptRequest": ["bytes bytes = 1"],
  "vm.StateSummaryAcceptResponse": ["vm.StateSummaryAcceptResponse.Mode mode = 1", "vm.Error err = 2"],

  // rpcdb (avalanchego v1.14.x proto/rpcdb/rpcdb.proto; luxd identical)
  "rpcdb.HasRequest": ["bytes key = 1"],
  "rpcdb.HasResponse": ["bool has = 1", "rpcdb.Error err = 2"],
  "rpcdb.GetRequest": ["bytes key = 1"],
  "rpcdb.GetResponse": ["bytes value = 1", "rpcdb.Error err = 2"],
  "rpcdb.PutRequest": ["bytes key = 1", "bytes value = 2"],
  "rpcdb.PutResponse": ["rpcdb.Error err = 1"],
  "rpcdb.DeleteRequest": ["bytes key = 1"],
  "rpcdb.DeleteResponse": ["rpcdb.Error err = 1"],
  "rpcdb.CompactRequest": ["bytes start = 1", "bytes limit = 2"],
  "rpcdb.CompactResponse": ["rpcdb.Error err = 1"],
  "rpcdb.CloseRequest": [],
  "rpcdb.CloseResponse": ["rpcdb.Error err = 1"],
  "rpcdb.WriteBatchRequest": ["repeated rpcdb.PutRequest puts = 1", "repeated rpcdb.DeleteRequest deletes = 2"],
  "rpcdb.WriteBatchResponse": ["rpcdb.Error err = 1"],
  "rpcdb.NewIteratorWithStartAndPrefixRequest": ["bytes start = 1", "bytes prefix = 2"],
  "rpcdb.NewIteratorWithStartAndPrefixResponse": ["uint64 id = 1"],
  "rpcdb.IteratorNextRequest": ["uint64 id = 1"],
  "rpcdb.IteratorNextResponse": ["repeated rpcdb.PutRequest data = 1"],
  "rpcdb.IteratorErrorRequest": ["uint64 id = 1"],
  "rpcdb.IteratorErrorResponse": ["rpcdb.Error err = 1"],
  "rpcdb.IteratorReleaseRequest": ["uint64 id = 1"],
  "rpcdb.IteratorReleaseResponse": ["rpcdb.Error err = 1"],
  "rpcdb.HealthCheckResponse": ["bytes details = 1"],

  // grpc.health.v1
  "grpc.health.v1.HealthCheckRequest": ["string service = 1"],
  "grpc.health.v1.HealthCheckResponse": ["grpc.health.v1.HealthCheckResponse.ServingStatus status = 1"],

  // io.prometheus.client (proto2: every singular field has explicit presence)
  "io.prometheus.client.MetricFamily": [
    "optional string name = 1",
    "optional string help = 2",
    "optional io.prometheus.client.MetricType type = 3",
    "repeated io.prometheus.client.Metric metric = 4",
    "optional string unit = 5"
  ],
  "io.prometheus.client.Metric": [
    "repeated io.prometheus.client.LabelPair label = 1",
    "optional io.prometheus.client.Gauge gauge = 2",
    "optional io.prometheus.client.Counter counter = 3",
    "optional io.prometheus.client.Summary summary = 4",
    "optional io.prometheus.client.Untyped untyped = 5",
    "optional int64 timestamp_ms = 6",
    "optional io.prometheus.client.Histogram histogram = 7"
  ],
  "io.prometheus.client.LabelPair": ["optional string name = 1", "optional string value = 2"],
  "io.prometheus.client.Gauge": ["optional double value = 1"],
  "io.prometheus.client.Counter": [
    "optional double value = 1",
    "optional io.prometheus.client.Exemplar exemplar = 2",
    `optional ${TS} created_timestamp = 3`
  ],
  "io.prometheus.client.Quantile": ["optional double quantile = 1", "optional double value = 2"],
  "io.prometheus.client.Summary": [
    "optional uint64 sample_count = 1",
    "optional double sample_sum = 2",
    "repeated io.prometheus.client.Quantile quantile = 3",
    `optional ${TS} created_timestamp = 4`
  ],
  "io.prometheus.client.Untyped": ["optional double value = 1"],
  "io.prometheus.client.Histogram": [
    "optional uint64 sample_count = 1",
    "optional double sample_sum = 2",
    "repeated io.prometheus.client.Bucket bucket = 3",
    "optional double sample_count_float = 4",
    "optional sint32 schema = 5",
    "optional double zero_threshold = 6",
    "optional uint64 zero_count = 7",
    "optional double zero_count_float = 8",
    "repeated io.prometheus.client.BucketSpan negative_span = 9",
    "repeated sint64 negative_delta = 10",
    "repeated double negative_count = 11",
    "repeated io.prometheus.client.BucketSpan positive_span = 12",
    "repeated sint64 positive_delta = 13",
    "repeated double positive_count = 14",
    `optional ${TS} created_timestamp = 15`,
    "repeated io.prometheus.client.Exemplar exemplars = 16"
  ],
  "io.prometheus.client.Bucket": [
    "optional uint64 cumulative_count = 1",
    "optional double upper_bound = 2",
    "optional io.prometheus.client.Exemplar exemplar = 3",
    "optional double cumulative_count_float = 4"
  ],
  "io.prometheus.client.BucketSpan": ["optional sint32 offset = 1", "optional uint32 length = 2"],
  "io.prometheus.client.Exemplar": [
    "repeated io.prometheus.client.LabelPair label = 1",
    "optional double value = 2",
    `optional ${TS} timestamp = 3`
  ],

  // appsender (avalanchego v1.14.x; the cross-chain messages are luxd's)
  "appsender.SendAppRequestMsg": ["repeated bytes node_ids = 1", "uint32 request_id = 2", "bytes request = 3"],
  "appsender.SendAppResponseMsg": ["bytes node_id = 1", "uint32 request_id = 2", "bytes response = 3"],
  "appsender.SendAppErrorMsg": [
    "bytes node_id = 1",
    "uint32 request_id = 2",
    "sint32 error_code = 3",
    "string error_message = 4"
  ],
  "appsender.SendAppGossipMsg": [
    "repeated bytes node_ids = 1",
    "uint64 validators = 2",
    "uint64 non_validators = 3",
    "uint64 peers = 4",
    "bytes msg = 5"
  ],
  "appsender.SendCrossChainAppRequestMsg": ["bytes chain_id = 1", "uint32 request_id = 2", "bytes request = 3"],
  "appsender.SendCrossChainAppResponseMsg": ["bytes chain_id = 1", "uint32 request_id = 2", "bytes response = 3"],
  "appsender.SendCrossChainAppErrorMsg": [
    "bytes chain_id = 1",
    "uint32 request_id = 2",
    "sint32 error_code = 3",
    "string error_message = 4"
  ],

  // http (avalanchego v1.14.x; Request.body = 7 is luxd's)
  "http.Element": ["string key = 1", "repeated string values = 2"],
  "http.Userinfo": ["string username = 1", "string password = 2", "bool password_set = 3"],
  "http.URL": [
    "string scheme = 1",
    "string opaque = 2",
    "http.Userinfo user = 3",
    "string host = 4",
    "string path = 5",
    "string raw_path = 6",
    "bool force_query = 7",
    "string raw_query = 8",
    "string fragment = 9"
  ],
  "http.Certificates": ["repeated bytes cert = 1"],
  "http.ConnectionState": [
    "uint32 version = 1",
    "bool handshake_complete = 2",
    "bool did_resume = 3",
    "uint32 cipher_suite = 4",
    "string negotiated_protocol = 5",
    "string server_name = 6",
    "http.Certificates peer_certificates = 7",
    "repeated http.Certificates verified_chains = 8",
    "repeated bytes signed_certificate_timestamps = 9",
    "bytes ocsp_response = 10"
  ],
  "http.Request": [
    "string method = 1",
    "http.URL url = 2",
    "string proto = 3",
    "int32 proto_major = 4",
    "int32 proto_minor = 5",
    "repeated http.Element header = 6",
    "bytes body = 7",
    "int64 content_length = 8",
    "repeated string transfer_encoding = 9",
    "string host = 10",
    "repeated http.Element form = 11",
    "repeated http.Element post_form = 12",
    "repeated string trailer_keys = 13",
    "string remote_addr = 14",
    "string request_uri = 15",
    "http.ConnectionState tls = 16"
  ],
  "http.ResponseWriter": ["repeated http.Element header = 1", "string server_addr = 2"],
  "http.HTTPRequest": ["http.ResponseWriter response_writer = 1", "http.Request request = 2"],
  "http.HTTPResponse": ["repeated http.Element header = 1"],
  "http.HandleSimpleHTTPRequest": [
    "string method = 1",
    "string url = 2",
    "repeated http.Element request_headers = 3",
    "bytes body = 4",
    "repeated http.Element response_headers = 5"
  ],
  "http.HandleSimpleHTTPResponse": ["int32 code = 1", "repeated http.Element headers = 2", "bytes body = 3"],
  "http.responsewriter.Header": ["string key = 1", "repeated string values = 2"],
  "http.responsewriter.WriteRequest": ["repeated http.responsewriter.Header headers = 1", "bytes payload = 2"],
  "http.responsewriter.WriteResponse": ["int32 written = 1"],
  "http.responsewriter.WriteHeaderRequest": ["repeated http.responsewriter.Header headers = 1", "int32 status_code = 2"],
  "http.responsewriter.HijackResponse": [
    "string local_network = 1",
    "string local_string = 2",
    "string remote_network = 3",
    "string remote_string = 4",
    "string server_addr = 5"
  ],
  "io.reader.Error": ["io.reader.ErrorCode error_code = 1", "string message = 2"],
  "io.reader.ReadRequest": ["int32 length = 1"],
  "io.reader.ReadResponse": ["bytes read = 1", "io.reader.Error error = 2"],

  // warp
  "warp.SignRequest": ["uint32 network_id = 1", "bytes source_chain_id = 2", "bytes payload = 3"],
  "warp.SignResponse": ["bytes signature = 1"],

  // validatorstate (avalanchego numbering of Validator; luxd differs at 5-7)
  "validatorstate.GetMinimumHeightResponse": ["uint64 height = 1"],
  "validatorstate.GetCurrentHeightResponse": ["uint64 height = 1"],
  "validatorstate.GetSubnetIDRequest": ["bytes chain_id = 1"],
  "validatorstate.GetSubnetIDResponse": ["bytes subnet_id = 1"],
  "validatorstate.GetWarpValidatorSetsRequest": ["uint64 height = 1"],
  "validatorstate.GetWarpValidatorSetsResponse": ["repeated validatorstate.WarpValidatorSet validator_sets = 1"],
  "validatorstate.WarpValidatorSet": [
    "bytes subnet_id = 1",
    "uint64 total_weight = 2",
    "repeated validatorstate.WarpValidator validators = 3"
  ],
  "validatorstate.WarpValidator": ["bytes public_key = 1", "uint64 weight = 2", "repeated bytes node_ids = 3"],
  "validatorstate.GetValidatorSetRequest": ["uint64 height = 1", "bytes subnet_id = 2"],
  "validatorstate.GetValidatorSetResponse": ["repeated validatorstate.Validator validators = 1"],
  "validatorstate.GetCurrentValidatorSetRequest": ["bytes subnet_id = 1"],
  "validatorstate.GetCurrentValidatorSetResponse": [
    "repeated validatorstate.Validator validators = 1",
    "uint64 current_height = 2"
  ],
  "validatorstate.Validator": [
    "bytes node_id = 1",
    "uint64 weight = 2",
    "bytes public_key = 3",
    "uint64 start_time = 4",
    "uint64 min_nonce = 5",
    "bool is_active = 6",
    "bytes validation_id = 7",
    "bool is_l1_validator = 8"
  ],
  // luxd's numbering of the same fields (5-7 differ)
  "validatorstate.LuxdValidator": [
    "bytes node_id = 1",
    "uint64 weight = 2",
    "bytes public_key = 3",
    "uint64 start_time = 4",
    "bool is_active = 5",
    "bytes validation_id = 6",
    "uint64 min_nonce = 7",
    "bool is_l1_validator = 8"
  ],
  "validatorstate.LuxdGetCurrentValidatorSetResponse": [
    "repeated validatorstate.LuxdValidator validators = 1",
    "uint64 current_height = 2"
  ],

  // aliasreader
  "aliasreader.ID": ["bytes id = 1"],
  "aliasreader.Alias": ["string alias = 1"],
  "aliasreader.AliasList": ["repeated string aliases = 1"],

  // sharedmemory
  "sharedmemory.GetRequest": ["bytes peer_chain_id = 1", "repeated bytes keys = 2"],
  "sharedmemory.GetResponse": ["repeated bytes values = 1"],
  "sharedmemory.IndexedRequest": [
    "bytes peer_chain_id = 1",
    "repeated bytes traits = 2",
    "bytes start_trait = 3",
    "bytes start_key = 4",
    "int32 limit = 5"
  ],
  "sharedmemory.IndexedResponse": ["repeated bytes values = 1", "bytes last_trait = 2", "bytes last_key = 3"],
  "sharedmemory.ApplyRequest": ["repeated sharedmemory.AtomicRequest requests = 1", "repeated sharedmemory.Batch batches = 2"],
  "sharedmemory.ApplyResponse": [],
  "sharedmemory.AtomicRequest": [
    "repeated bytes remove_requests = 1",
    "repeated sharedmemory.Element put_requests = 2",
    "bytes peer_chain_id = 3"
  ],
  "sharedmemory.Element": ["bytes key = 1", "bytes value = 2", "repeated bytes traits = 3"],
  "sharedmemory.Batch": ["repeated sharedmemory.BatchPut puts = 1", "repeated sharedmemory.BatchDelete deletes = 2"],
  "sharedmemory.BatchPut": ["bytes key = 1", "bytes value = 2"],
  "sharedmemory.BatchDelete": ["bytes key = 1"]
}

// Method lines: "<Name>(<input>) returns ([stream ]<output>)"; E is google.protobuf.Empty.
const E = "google.protobuf.Empty"
const services: Record<string, ReadonlyArray<string>> = {
  "vm.runtime.Runtime": [`Initialize(vm.runtime.InitializeRequest) returns (${E})`],
  "vm.VM": [
    "Initialize(vm.InitializeRequest) returns (vm.InitializeResponse)",
    "SetState(vm.SetStateRequest) returns (vm.SetStateResponse)",
    `Shutdown(${E}) returns (${E})`,
    `CreateHandlers(${E}) returns (vm.CreateHandlersResponse)`,
    `NewHTTPHandler(${E}) returns (vm.NewHTTPHandlerResponse)`,
    `WaitForEvent(${E}) returns (vm.WaitForEventResponse)`,
    `Connected(vm.ConnectedRequest) returns (${E})`,
    `Disconnected(vm.DisconnectedRequest) returns (${E})`,
    "BuildBlock(vm.BuildBlockRequest) returns (vm.BuildBlockResponse)",
    "ParseBlock(vm.ParseBlockRequest) returns (vm.ParseBlockResponse)",
    "GetBlock(vm.GetBlockRequest) returns (vm.GetBlockResponse)",
    `SetPreference(vm.SetPreferenceRequest) returns (${E})`,
    `Health(${E}) returns (vm.HealthResponse)`,
    `Version(${E}) returns (vm.VersionResponse)`,
    `AppRequest(vm.AppRequestMsg) returns (${E})`,
    `AppRequestFailed(vm.AppRequestFailedMsg) returns (${E})`,
    `AppResponse(vm.AppResponseMsg) returns (${E})`,
    `AppGossip(vm.AppGossipMsg) returns (${E})`,
    `Gather(${E}) returns (vm.GatherResponse)`,
    `CrossChainAppRequest(vm.CrossChainAppRequestMsg) returns (${E})`,
    `CrossChainAppRequestFailed(vm.CrossChainAppRequestFailedMsg) returns (${E})`,
    `CrossChainAppResponse(vm.CrossChainAppResponseMsg) returns (${E})`,
    "GetAncestors(vm.GetAncestorsRequest) returns (vm.GetAncestorsResponse)",
    "BatchedParseBlock(vm.BatchedParseBlockRequest) returns (vm.BatchedParseBlockResponse)",
    "GetBlockIDAtHeight(vm.GetBlockIDAtHeightRequest) returns (vm.GetBlockIDAtHeightResponse)",
    `StateSyncEnabled(${E}) returns (vm.StateSyncEnabledResponse)`,
    `GetOngoingSyncStateSummary(${E}) returns (vm.GetOngoingSyncStateSummaryResponse)`,
    `GetLastStateSummary(${E}) returns (vm.GetLastStateSummaryResponse)`,
    "ParseStateSummary(vm.ParseStateSummaryRequest) returns (vm.ParseStateSummaryResponse)",
    "GetStateSummary(vm.GetStateSummaryRequest) returns (vm.GetStateSummaryResponse)",
    "BlockVerify(vm.BlockVerifyRequest) returns (vm.BlockVerifyResponse)",
    `BlockAccept(vm.BlockAcceptRequest) returns (${E})`,
    `BlockReject(vm.BlockRejectRequest) returns (${E})`,
    "StateSummaryAccept(vm.StateSummaryAcceptRequest) returns (vm.StateSummaryAcceptResponse)"
  ],
  "rpcdb.Database": [
    "Has(rpcdb.HasRequest) returns (rpcdb.HasResponse)",
    "Get(rpcdb.GetRequest) returns (rpcdb.GetResponse)",
    "Put(rpcdb.PutRequest) returns (rpcdb.PutResponse)",
    "Delete(rpcdb.DeleteRequest) returns (rpcdb.DeleteResponse)",
    "Compact(rpcdb.CompactRequest) returns (rpcdb.CompactResponse)",
    "Close(rpcdb.CloseRequest) returns (rpcdb.CloseResponse)",
    `HealthCheck(${E}) returns (rpcdb.HealthCheckResponse)`,
    "WriteBatch(rpcdb.WriteBatchRequest) returns (rpcdb.WriteBatchResponse)",
    "NewIteratorWithStartAndPrefix(rpcdb.NewIteratorWithStartAndPrefixRequest) returns (rpcdb.NewIteratorWithStartAndPrefixResponse)",
    "IteratorNext(rpcdb.IteratorNextRequest) returns (rpcdb.IteratorNextResponse)",
    "IteratorError(rpcdb.IteratorErrorRequest) returns (rpcdb.IteratorErrorResponse)",
    "IteratorRelease(rpcdb.IteratorReleaseRequest) returns (rpcdb.IteratorReleaseResponse)"
  ],
  "grpc.health.v1.Health": [
    "Check(grpc.health.v1.HealthCheckRequest) returns (grpc.health.v1.HealthCheckResponse)",
    "Watch(grpc.health.v1.HealthCheckRequest) returns (stream grpc.health.v1.HealthCheckResponse)"
  ],
  "appsender.AppSender": [
    `SendAppRequest(appsender.SendAppRequestMsg) returns (${E})`,
    `SendAppResponse(appsender.SendAppResponseMsg) returns (${E})`,
    `SendAppError(appsender.SendAppErrorMsg) returns (${E})`,
    `SendAppGossip(appsender.SendAppGossipMsg) returns (${E})`,
    `SendCrossChainAppRequest(appsender.SendCrossChainAppRequestMsg) returns (${E})`,
    `SendCrossChainAppResponse(appsender.SendCrossChainAppResponseMsg) returns (${E})`,
    `SendCrossChainAppError(appsender.SendCrossChainAppErrorMsg) returns (${E})`
  ],
  "warp.Signer": ["Sign(warp.SignRequest) returns (warp.SignResponse)"],
  "http.HTTP": [
    "Handle(http.HTTPRequest) returns (http.HTTPResponse)",
    "HandleSimple(http.HandleSimpleHTTPRequest) returns (http.HandleSimpleHTTPResponse)"
  ],
  "http.responsewriter.Writer": [
    "Write(http.responsewriter.WriteRequest) returns (http.responsewriter.WriteResponse)",
    `WriteHeader(http.responsewriter.WriteHeaderRequest) returns (${E})`,
    `Flush(${E}) returns (${E})`,
    `Hijack(${E}) returns (http.responsewriter.HijackResponse)`
  ],
  "io.reader.Reader": ["Read(io.reader.ReadRequest) returns (io.reader.ReadResponse)"],
  "validatorstate.ValidatorState": [
    `GetMinimumHeight(${E}) returns (validatorstate.GetMinimumHeightResponse)`,
    `GetCurrentHeight(${E}) returns (validatorstate.GetCurrentHeightResponse)`,
    "GetSubnetID(validatorstate.GetSubnetIDRequest) returns (validatorstate.GetSubnetIDResponse)",
    "GetWarpValidatorSets(validatorstate.GetWarpValidatorSetsRequest) returns (validatorstate.GetWarpValidatorSetsResponse)",
    "GetValidatorSet(validatorstate.GetValidatorSetRequest) returns (validatorstate.GetValidatorSetResponse)",
    "GetCurrentValidatorSet(validatorstate.GetCurrentValidatorSetRequest) returns (validatorstate.GetCurrentValidatorSetResponse)"
  ],
  "aliasreader.AliasReader": [
    "Lookup(aliasreader.Alias) returns (aliasreader.ID)",
    "PrimaryAlias(aliasreader.ID) returns (aliasreader.Alias)",
    "Aliases(aliasreader.ID) returns (aliasreader.AliasList)"
  ],
  "sharedmemory.SharedMemory": [
    "Get(sharedmemory.GetRequest) returns (sharedmemory.GetResponse)",
    "Indexed(sharedmemory.IndexedRequest) returns (sharedmemory.IndexedResponse)",
    "Apply(sharedmemory.ApplyRequest) returns (sharedmemory.ApplyResponse)"
  ]
}

// The generated files and the proto syntax each must have.
const files: ReadonlyArray<[DescFile, "proto2" | "proto3"]> = [
  [file_vm_runtime_runtime, "proto3"],
  [file_vm_vm, "proto3"],
  [file_rpcdb_rpcdb, "proto3"],
  [file_grpc_health_v1_health, "proto3"],
  [file_io_prometheus_client_metrics, "proto2"],
  [file_appsender_appsender, "proto3"],
  [file_warp_warp, "proto3"],
  [file_validatorstate_validatorstate, "proto3"],
  [file_aliasreader_aliasreader, "proto3"],
  [file_sharedmemory_sharedmemory, "proto3"],
  [file_http_http, "proto3"],
  [file_http_responsewriter_responsewriter, "proto3"],
  [file_io_reader_reader, "proto3"]
]

// ---------------------------------------------------------------------------------------------
// Rendering descriptors and table lines into one comparable form:
// "<label> <kind>:<type> <name> = <number>", label one of "", "optional", "repeated".

const scalarNames: Record<number, string> = {
  [ScalarType.DOUBLE]: "double",
  [ScalarType.FLOAT]: "float",
  [ScalarType.INT64]: "int64",
  [ScalarType.UINT64]: "uint64",
  [ScalarType.INT32]: "int32",
  [ScalarType.FIXED64]: "fixed64",
  [ScalarType.FIXED32]: "fixed32",
  [ScalarType.BOOL]: "bool",
  [ScalarType.STRING]: "string",
  [ScalarType.BYTES]: "bytes",
  [ScalarType.UINT32]: "uint32",
  [ScalarType.SFIXED32]: "sfixed32",
  [ScalarType.SFIXED64]: "sfixed64",
  [ScalarType.SINT32]: "sint32",
  [ScalarType.SINT64]: "sint64"
}
const scalarSet = new Set(Object.values(scalarNames))

const normalizeLine = (line: string): string => {
  const m = /^(?:(optional|repeated) )?(\S+) (\w+) = (\d+)$/.exec(line)
  if (m === null) throw new Error(`bad table line: ${line}`)
  const [, label = "", type = "", name = "", num = ""] = m
  const kind = scalarSet.has(type) ? "scalar" : type in enums ? "enum" : "message"
  return `${label} ${kind}:${type} ${name} = ${num}`
}

const syntaxOf = (file: DescFile): string =>
  file.edition === Edition.EDITION_PROTO2 ? "proto2" : file.edition === Edition.EDITION_PROTO3 ? "proto3" : `edition ${file.edition}`

const isProto2 = (field: DescField): boolean => syntaxOf(field.parent.file) === "proto2"

const describeField = (field: DescField): string => {
  let kind: string
  let type: string
  let label = ""
  switch (field.fieldKind) {
    case "scalar":
      ;[kind, type] = ["scalar", scalarNames[field.scalar] ?? `?${field.scalar}`]
      break
    case "enum":
      ;[kind, type] = ["enum", field.enum.typeName]
      break
    case "message":
      ;[kind, type] = ["message", field.message.typeName]
      break
    case "list":
      label = "repeated"
      switch (field.listKind) {
        case "scalar":
          ;[kind, type] = ["scalar", scalarNames[field.scalar] ?? `?${field.scalar}`]
          break
        case "enum":
          ;[kind, type] = ["enum", field.enum.typeName]
          break
        case "message":
          ;[kind, type] = ["message", field.message.typeName]
          break
      }
      break
    case "map":
      ;[kind, type] = ["map", "?"]
      break
  }
  if (label === "" && (field.proto.proto3Optional === true || isProto2(field))) label = "optional"
  return `${label} ${kind}:${type} ${field.name} = ${field.number}`
}

const allMessages = (file: DescFile): Array<DescMessage> => {
  const out: Array<DescMessage> = []
  const walk = (m: DescMessage) => {
    out.push(m)
    m.nestedMessages.forEach(walk)
  }
  file.messages.forEach(walk)
  return out
}

const allEnums = (file: DescFile): Array<DescEnum> => [
  ...file.enums,
  ...allMessages(file).flatMap((m) => m.nestedEnums)
]

const describeMethod = (m: DescMethod): string =>
  `${m.name}(${m.input.typeName}) returns (${m.methodKind === "server_streaming" ? "stream " : ""}${m.output.typeName})`

const byTypeName = <T extends { typeName: string }>(list: ReadonlyArray<T>): Map<string, T> =>
  new Map(list.map((d) => [d.typeName, d]))

const generatedMessages = byTypeName(files.flatMap(([f]) => allMessages(f)))
const generatedEnums = byTypeName(files.flatMap(([f]) => allEnums(f)))
const generatedServices = byTypeName<DescService>(files.flatMap(([f]) => f.services))

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
const ascii = (s: string): string => Buffer.from(s, "ascii").toString("hex")

// ---------------------------------------------------------------------------------------------

describe("wire format of the generated protos", () => {
  it("declares each file with the syntax upstream uses", () => {
    for (const [file, syntax] of files) {
      expect({ file: file.name, syntax: syntaxOf(file) }).toEqual({ file: file.name, syntax })
    }
  })

  it("has exactly the messages of the table, nothing unrecorded", () => {
    expect([...generatedMessages.keys()].sort()).toEqual(Object.keys(messages).sort())
  })

  describe.each(Object.entries(messages))("message %s", (typeName, lines) => {
    it("has the expected fields, numbers, types and labels", () => {
      const desc = generatedMessages.get(typeName)
      expect(desc, `${typeName} is not generated`).toBeDefined()
      const actual = desc!.fields.map(describeField).sort()
      const expected = lines.map(normalizeLine).sort()
      expect(actual).toEqual(expected)
      // No oneofs and no maps anywhere in these schemas (proto3 `optional` is not a real oneof).
      expect(desc!.oneofs).toEqual([])
    })
  })

  it("has exactly the enums of the table", () => {
    expect([...generatedEnums.keys()].sort()).toEqual(Object.keys(enums).sort())
  })

  describe.each(Object.entries(enums))("enum %s", (typeName, values) => {
    it("has the expected value names and numbers", () => {
      const desc = generatedEnums.get(typeName)
      expect(desc, `${typeName} is not generated`).toBeDefined()
      expect(Object.fromEntries(desc!.values.map((v) => [v.name, v.number]))).toEqual(values)
    })
  })

  it("has exactly the services of the table", () => {
    expect([...generatedServices.keys()].sort()).toEqual(Object.keys(services).sort())
  })

  describe.each(Object.entries(services))("service %s", (typeName, methods) => {
    it("has the expected methods, input and output types, and streaming kinds", () => {
      const desc = generatedServices.get(typeName)
      expect(desc, `${typeName} is not generated`).toBeDefined()
      expect(desc!.methods.map(describeMethod).sort()).toEqual([...methods].sort())
      for (const m of desc!.methods) {
        if (m.methodKind !== "server_streaming") expect(m.methodKind).toBe("unary")
      }
    })

    it("puts every method at /<package>.<Service>/<Method> (the path Connect sends)", () => {
      const desc = generatedServices.get(typeName)!
      const expected = methods.map((line) => `/${typeName}/${line.slice(0, line.indexOf("("))}`).sort()
      expect(desc.methods.map((m) => createMethodUrl("/", m)).sort()).toEqual(expected)
    })
  })

  it("exports the VM service under @vmre/proto/vm/vm_pb with all 34 RPCs", () => {
    expect(VM.typeName).toBe("vm.VM")
    expect(VM.methods).toHaveLength(34)
    expect(createMethodUrl("/", VM.method.initialize)).toBe("/vm.VM/Initialize")
    expect(createMethodUrl("/", VM.method.getBlockIDAtHeight)).toBe("/vm.VM/GetBlockIDAtHeight")
    expect(createMethodUrl("/", VM.method.newHTTPHandler)).toBe("/vm.VM/NewHTTPHandler")
  })

  it("does not pack the Prometheus model's repeated scalars (proto2 encoding)", () => {
    const histogram = generatedMessages.get("io.prometheus.client.Histogram")!
    for (const name of ["negative_delta", "negative_count", "positive_delta", "positive_count"]) {
      const field = histogram.fields.find((f) => f.name === name)!
      expect(field.fieldKind === "list" && field.packed, name).toBe(false)
    }
  })
})

describe("golden bytes (hand-computed from the protobuf encoding rules)", () => {
  it("vm.runtime.InitializeRequest{protocol_version: 45, addr: 127.0.0.1:1}", () => {
    const bytes = toBinary(RuntimeInitializeRequestSchema, create(RuntimeInitializeRequestSchema, {
      protocolVersion: 45,
      addr: "127.0.0.1:1"
    }))
    // field 1 varint (0x08) 45 (0x2d); field 2 length-delimited (0x12), 11 bytes
    expect(hex(bytes)).toBe("082d" + "120b" + ascii("127.0.0.1:1"))
  })

  it("vm.BuildBlockRequest: optional p_chain_height is sent when set to 0, absent when unset", () => {
    expect(hex(toBinary(BuildBlockRequestSchema, create(BuildBlockRequestSchema, {})))).toBe("")
    expect(hex(toBinary(BuildBlockRequestSchema, create(BuildBlockRequestSchema, { pChainHeight: 0n })))).toBe("0800")
    // 300 = 0b1_0010_1100 → varint ac 02
    expect(hex(toBinary(BuildBlockRequestSchema, create(BuildBlockRequestSchema, { pChainHeight: 300n })))).toBe("08ac02")
  })

  it("vm.AppRequestFailedMsg: error_code is sint32 (zigzag)", () => {
    const msg = create(AppRequestFailedMsgSchema, {
      nodeId: new Uint8Array([0xaa, 0xbb]),
      requestId: 7,
      errorCode: -1,
      errorMessage: "x"
    })
    // 0a 02 aabb | 10 07 | 18 01 (zigzag(-1) = 1) | 22 01 'x'
    expect(hex(toBinary(AppRequestFailedMsgSchema, msg))).toBe("0a02aabb" + "1007" + "1801" + "2201" + ascii("x"))
  })

  it("vm.GetBlockResponse: err = 6 and verify_with_context = 7, luxd status = 3", () => {
    const msg = create(GetBlockResponseSchema, {
      status: Status.ACCEPTED,
      height: 1n,
      err: VmError.NOT_FOUND,
      verifyWithContext: true
    })
    // 18 03 | 20 01 | 30 02 | 38 01
    expect(hex(toBinary(GetBlockResponseSchema, msg))).toBe("1803" + "2001" + "3002" + "3801")
  })

  it("vm.ParseBlockResponse from luxd (with status) decodes; timestamp is field 5", () => {
    // 0a 01 01 (id) | 12 01 02 (parent_id) | 18 02 (status REJECTED) | 20 05 (height) | 2a 02 08 01 (ts 1 s)
    const msg = fromBinary(ParseBlockResponseSchema, Uint8Array.from(Buffer.from("0a0101" + "120102" + "1802" + "2005" + "2a020801", "hex")))
    expect(msg.id).toEqual(new Uint8Array([1]))
    expect(msg.parentId).toEqual(new Uint8Array([2]))
    expect(msg.status).toBe(Status.REJECTED)
    expect(msg.height).toBe(5n)
    expect(msg.timestamp?.seconds).toBe(1n)
  })

  it("vm.BlockVerifyResponse{timestamp: 1970-01-01T00:00:01.5Z}", () => {
    const msg = create(BlockVerifyResponseSchema, { timestamp: timestampFromMs(1500) })
    // 0a 08 | 08 01 (seconds) | 10 80 ca b5 ee 01 (nanos 500000000)
    expect(hex(toBinary(BlockVerifyResponseSchema, msg))).toBe("0a08" + "0801" + "1080cab5ee01")
  })

  it("rpcdb.IteratorNextResponse{data: [{key: k, value: v}]}", () => {
    const msg = create(IteratorNextResponseSchema, {
      data: [{ key: new TextEncoder().encode("k"), value: new TextEncoder().encode("v") }]
    })
    expect(hex(toBinary(IteratorNextResponseSchema, msg))).toBe("0a06" + "0a01" + ascii("k") + "1201" + ascii("v"))
  })

  it("validatorstate.Validator uses avalanchego's numbers (min_nonce 5, is_active 6, validation_id 7)", () => {
    const msg = create(ValidatorSchema, { minNonce: 9n, isActive: true, validationId: new Uint8Array([0xcc]) })
    expect(hex(toBinary(ValidatorSchema, msg))).toBe("2809" + "3001" + "3a01cc")
  })

  it("io.prometheus.client (proto2): set-to-zero fields are sent, repeated scalars unpacked", () => {
    // Gauge{value: 0}: field 1, 64-bit (0x09), eight zero bytes
    expect(hex(toBinary(GaugeSchema, create(GaugeSchema, { value: 0 })))).toBe("09" + "00".repeat(8))
    expect(hex(toBinary(GaugeSchema, create(GaugeSchema, {})))).toBe("")
    // MetricFamily{name: "a", type: COUNTER (0)}: the zero enum is present
    expect(
      hex(toBinary(MetricFamilySchema, create(MetricFamilySchema, { name: "a", type: MetricType.COUNTER })))
    ).toBe("0a01" + ascii("a") + "1800")
    // Histogram{negative_delta: [1, -1]}: one tag per element (0x50 = field 10, varint), zigzag 2 and 1
    expect(hex(toBinary(HistogramSchema, create(HistogramSchema, { negativeDelta: [1n, -1n] })))).toBe("5002" + "5001")
  })
})
