// Asio's SSL implementation (separate compilation; core/asio_impl.cc has the
// rest): only the controller's https clients (etcd, Kubernetes API) use it.
#include <boost/asio/ssl/impl/src.hpp>
