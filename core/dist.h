/* dist.h — data parallelism across processes with MPI (optional: built with OpenMPI when
 * CMake finds it, ZL_HAVE_MPI; otherwise every function acts as one process of one).
 * Owns the MPI session: it starts only when the process was launched by mpirun (the
 * launcher's environment: OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK), so a normal run
 * never touches MPI, and it is finalized at exit.
 *
 *     zl_dist_init();                                 // no-op outside mpirun
 *     int rank = zl_dist_rank(), size = zl_dist_size(); // 0 and 1 outside mpirun
 *     zl_dist_allreduce_sum(grads, n);                // in place, summed over ranks
 *
 * The trainer (trainer.h) uses it to split every global batch's micro-batches over the
 * ranks and sum the gradient block (one flat buffer) with one MPI_Allreduce per step.
 */
#ifndef ZL_DIST_H
#define ZL_DIST_H

#include <stdint.h>

/* 1 when zonelab was built with MPI. */
int zl_dist_available(void);
/* 1 when the environment says an MPI launcher started this process. */
int zl_dist_launched(void);
/* Starts MPI when launched by mpirun (idempotent; registers MPI_Finalize at exit).
 * -1 with the error set when launched by mpirun but zonelab was built without MPI, or
 * MPI_Init fails. */
int zl_dist_init(void);
/* This process's rank (0-based) and the number of processes; 0 and 1 before init or
 * outside mpirun. */
int zl_dist_rank(void);
int zl_dist_size(void);
/* Sums buf[0..n-1] over every rank, in place (float / double). No-op for one process. */
int zl_dist_allreduce_sum(float *buf, int64_t n);
int zl_dist_allreduce_sum_f64(double *buf, int n);
/* Waits for every rank. */
int zl_dist_barrier(void);

#endif
