// The one translation unit that compiles Asio's implementation
// (BOOST_ASIO_SEPARATE_COMPILATION is set
// for the whole build), so other files only pay for declarations.
#include <boost/asio/impl/src.hpp>
