// The include guard must not be _GIF_LIB_H_: Debian's <gif_lib.h> uses that name and would then be skipped.
#ifndef SVGNET_CGIF_SHIM_H
#define SVGNET_CGIF_SHIM_H
#include <gif_lib.h>
#endif
