// The one translation unit that compiles Asio's implementation
// (BOOST_ASIO_SEPARATE_COMPILATION is set
// for the whole build), so other files only pay for declarations. The SSL
// part serves the controller's https clients (etcd, Kubernetes API).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
