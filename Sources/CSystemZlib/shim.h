// The include guard must not be ZLIB_H: Debian's <zlib.h> uses that name and would then be skipped.
#ifndef SVGNET_CSYSTEMZLIB_SHIM_H
#define SVGNET_CSYSTEMZLIB_SHIM_H
#include <zlib.h>
#endif
