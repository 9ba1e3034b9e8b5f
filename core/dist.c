/* dist.c — the MPI session of dist.h (built without ZL_HAVE_MPI: a one-process session that refuses mpirun). */
#include "dist.h"

#include "error.h"

#include <stdlib.h>

#ifdef ZL_HAVE_MPI
#include <limits.h>
#include <mpi.h>
#endif

/* The world communicator: the one MPI session of the process (MPI_COMM_WORLD). */
struct zl_dist {
    int rank, size, started;
};
static zl_dist g_world = {0, 1, 0};

int zl_dist_available(void)
{
#ifdef ZL_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int zl_dist_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return 1;
    }
    return 0;
}

#ifdef ZL_HAVE_MPI
static void finalize(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
}
#endif

const zl_dist *zl_dist_init(void)
{
    if (g_world.started || !zl_dist_launched()) return &g_world;
#ifdef ZL_HAVE_MPI
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        zl_error_set("dist: MPI_Init failed");
        return NULL;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
    g_world.started = 1;
    atexit(finalize);
    return &g_world;
#else
    zl_error_set("dist: launched by mpirun, but this zonelab was built without MPI "
                 "(apt-get install libopenmpi-dev openmpi-bin, then rebuild)");
    return NULL;
#endif
}

int zl_dist_rank(const zl_dist *d) { return d ? d->rank : 0; }
int zl_dist_size(const zl_dist *d) { return d ? d->size : 1; }

int zl_dist_allreduce_sum(const zl_dist *d, float *buf, int64_t n)
{
    if (zl_dist_size(d) < 2 || n <= 0) return 0;
#ifdef ZL_HAVE_MPI
    /* MPI counts are int: large blocks go in INT_MAX-sized pieces */
    for (int64_t off = 0; off < n; off += INT_MAX) {
        int c = n - off > INT_MAX ? INT_MAX : (int)(n - off);
        if (MPI_Allreduce(MPI_IN_PLACE, buf + off, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return zl_error_set("dist: MPI_Allreduce of %lld floats failed", (long long)n);
    }
    return 0;
#else
    (void)buf;
    return 0;
#endif
}

int zl_dist_allreduce_sum_f64(const zl_dist *d, double *buf, int n)
{
    if (zl_dist_size(d) < 2 || n <= 0) return 0;
#ifdef ZL_HAVE_MPI
    if (MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        return zl_error_set("dist: MPI_Allreduce of %d doubles failed", n);
    return 0;
#else
    (void)buf;
    return 0;
#endif
}

int zl_dist_barrier(const zl_dist *d)
{
#ifdef ZL_HAVE_MPI
    if (zl_dist_size(d) > 1 && MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
        return zl_error_set("dist: MPI_Barrier failed");
#else
    (void)d;
#endif
    return 0;
}
