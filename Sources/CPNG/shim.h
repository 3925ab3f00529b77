// The include guard must not be PNG_H: Debian's <png.h> uses that name and would then be skipped.
#ifndef SVGNET_CPNG_SHIM_H
#define SVGNET_CPNG_SHIM_H
#include <png.h>
#endif
