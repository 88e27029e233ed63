// The one translation unit that compiles Asio's implementation
// (BOOST_ASIO_SEPARATE_COMPILATION is set for the whole build), so other
// files only pay for declarations. Asio's SSL part is compiled with the
// controller's https clients (controller/asio_ssl_impl.cc), so that weft's
// core — and a proxy that never talks to etcd or Kubernetes — links no OpenSSL.
#include <boost/asio/impl/src.hpp>
