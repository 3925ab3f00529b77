// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE) are macros over the addresses of
// library globals, which Swift does not import; these functions return them.
#include <mpi.h>

static inline MPI_Comm svgnet_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype svgnet_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype svgnet_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Op svgnet_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op svgnet_mpi_max(void) { return MPI_MAX; }
static inline void *svgnet_mpi_in_place(void) { return MPI_IN_PLACE; }
