#ifndef BAYESAGG_CZLIB_SHIM_H
#define BAYESAGG_CZLIB_SHIM_H
#include <zlib.h>
#endif
