# The xDS API protos (DESIGN.md §5): the official Envoy protos from the npm
# package @grpc/grpc-js-xds, staged by scripts/fetch-xds-protos (pinned
# version + sha256, cached in WEFT_XDS_CACHE, validate options stripped) and
# compiled ONCE into the static library weft_xds_proto.
#
# Only the closure weft serves is compiled: ADS (discovery + ads), EDS
# (endpoint) and CDS (cluster) — 41 files. Generated code is built without
# weft's warning flags (and never with -Werror).
#
# When the protos cannot be staged (no cache and no npm / no network), the
# library is not defined, a warning says why, and the rest of weft still
# configures and builds; modules that need it test `if(TARGET weft_xds_proto)`.

set(WEFT_XDS_CACHE "$ENV{HOME}/.cache/weft/xds" CACHE PATH "Cache of the @grpc/grpc-js-xds tarball")
set(WEFT_XDS_ROOTS
  envoy/service/discovery/v3/ads.proto
  envoy/config/endpoint/v3/endpoint.proto
  envoy/config/cluster/v3/cluster.proto)
set(WEFT_XDS_DIR ${CMAKE_BINARY_DIR}/xds)

find_package(Protobuf QUIET)
find_package(gRPC CONFIG QUIET)
find_program(WEFT_GRPC_CPP_PLUGIN grpc_cpp_plugin)
find_package(Python3 COMPONENTS Interpreter QUIET)

if(NOT Protobuf_FOUND OR NOT gRPC_FOUND OR NOT WEFT_GRPC_CPP_PLUGIN OR NOT Python3_Interpreter_FOUND)
  message(WARNING "xds: protobuf, gRPC, grpc_cpp_plugin or python3 missing; weft_xds_proto (and the controller) not built")
  return()
endif()

execute_process(
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/fetch-xds-protos
          --cache ${WEFT_XDS_CACHE} --out ${WEFT_XDS_DIR} ${WEFT_XDS_ROOTS}
  RESULT_VARIABLE xds_fetch_rc
  ERROR_VARIABLE xds_fetch_err)
if(NOT xds_fetch_rc EQUAL 0)
  message(WARNING "xds: scripts/fetch-xds-protos failed (${xds_fetch_err}); weft_xds_proto (and the controller) not built")
  return()
endif()
# Re-stage when the script (its pin) changes.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/scripts/fetch-xds-protos)

file(STRINGS ${WEFT_XDS_DIR}/closure.txt xds_protos)
set(xds_proto_dir ${WEFT_XDS_DIR}/protos)
set(xds_gen_dir ${WEFT_XDS_DIR}/gen)
set(xds_inputs)
set(xds_srcs)
set(xds_hdrs)
foreach(p ${xds_protos})
  string(REGEX REPLACE "\\.proto$" "" base ${p})
  list(APPEND xds_inputs ${xds_proto_dir}/${p})
  list(APPEND xds_srcs ${xds_gen_dir}/${base}.pb.cc)
  list(APPEND xds_hdrs ${xds_gen_dir}/${base}.pb.h)
endforeach()
# Only ads.proto declares the service weft implements.
set(xds_grpc_srcs ${xds_gen_dir}/envoy/service/discovery/v3/ads.grpc.pb.cc)
set(xds_grpc_hdrs ${xds_gen_dir}/envoy/service/discovery/v3/ads.grpc.pb.h)

add_custom_command(
  OUTPUT ${xds_srcs} ${xds_hdrs}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${xds_gen_dir}
  COMMAND protobuf::protoc -I${xds_proto_dir} --cpp_out=${xds_gen_dir} ${xds_protos}
  DEPENDS ${xds_inputs} protobuf::protoc
  WORKING_DIRECTORY ${xds_proto_dir}
  COMMENT "protoc: xDS closure (C++)"
  VERBATIM)
add_custom_command(
  OUTPUT ${xds_grpc_srcs} ${xds_grpc_hdrs}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${xds_gen_dir}
  COMMAND protobuf::protoc -I${xds_proto_dir} --grpc_out=${xds_gen_dir}
          --plugin=protoc-gen-grpc=${WEFT_GRPC_CPP_PLUGIN} envoy/service/discovery/v3/ads.proto
  DEPENDS ${xds_proto_dir}/envoy/service/discovery/v3/ads.proto protobuf::protoc
  WORKING_DIRECTORY ${xds_proto_dir}
  COMMENT "protoc: ADS service (gRPC C++)"
  VERBATIM)

add_library(weft_xds_proto STATIC ${xds_srcs} ${xds_grpc_srcs})
# Generated code: system-include so its warnings never reach weft's builds.
target_include_directories(weft_xds_proto SYSTEM PUBLIC ${xds_gen_dir})
target_compile_options(weft_xds_proto PRIVATE -w)
target_link_libraries(weft_xds_proto PUBLIC protobuf::libprotobuf gRPC::grpc++)
set(WEFT_XDS_PROTO_DIR ${xds_proto_dir})
