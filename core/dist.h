/* dist.h — data parallelism across processes with MPI (optional: built with OpenMPI when
 * CMake finds it, ZL_HAVE_MPI; otherwise every communicator is one process of one).
 * Owns the MPI session: it starts only when the process was launched by mpirun (the
 * launcher's environment: OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK), so a normal run
 * never touches MPI, and it is finalized at exit. Work is shared through a communicator
 * the caller passes explicitly (NULL everywhere means one process): nothing else in the
 * core changes what it computes because MPI was started.
 *
 *     const zl_dist *d = zl_dist_init();             // one process outside mpirun
 *     int rank = zl_dist_rank(d), size = zl_dist_size(d);
 *     zl_dist_allreduce_sum(d, grads, n);            // in place, summed over ranks
 *     c.dist = d;                                    // a trainer splitting its batches (trainer.h)
 *
 * The trainer (trainer.h) uses its configuration's communicator to split every global
 * batch's micro-batches over the ranks and sum the gradient block (one flat buffer) with
 * one MPI_Allreduce per step.
 */
#ifndef ZL_DIST_H
#define ZL_DIST_H

#include <stdint.h>

typedef struct zl_dist zl_dist;

/* 1 when zonelab was built with MPI. */
int zl_dist_available(void);
/* 1 when the environment says an MPI launcher started this process. */
int zl_dist_launched(void);
/* Starts MPI when launched by mpirun (idempotent; registers MPI_Finalize at exit) and
 * returns the world communicator (the session's, alive until exit; one process outside
 * mpirun). NULL with the error set when launched by mpirun but zonelab was built without
 * MPI, or MPI_Init fails. */
const zl_dist *zl_dist_init(void);
/* The rank (0-based) and the number of processes of d; 0 and 1 for NULL. */
int zl_dist_rank(const zl_dist *d);
int zl_dist_size(const zl_dist *d);
/* Sums buf[0..n-1] over every rank of d, in place (float / double). No-op for one process. */
int zl_dist_allreduce_sum(const zl_dist *d, float *buf, int64_t n);
int zl_dist_allreduce_sum_f64(const zl_dist *d, double *buf, int n);
/* Waits for every rank of d. */
int zl_dist_barrier(const zl_dist *d);

#endif
