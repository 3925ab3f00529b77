// The include guard must not be CBLAS_H: Debian's <cblas.h> uses that name and would then be skipped.
#ifndef SVGNET_COPENBLAS_SHIM_H
#define SVGNET_COPENBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
