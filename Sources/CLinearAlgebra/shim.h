// CBLAS from OpenBLAS, plus the LAPACK routines that libopenblas exports.
// Fortran LAPACK takes every argument by pointer and, after the last one, one hidden
// length argument per character argument; callers pass 1 for each.
#ifndef BAYESAGG_CLINEARALGEBRA_SHIM_H
#define BAYESAGG_CLINEARALGEBRA_SHIM_H

#include <stddef.h>
#include <cblas.h>

void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info,
             size_t uplo_len);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info, size_t uplo_len);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info,
             size_t uplo_len);
void dtrtrs_(const char *uplo, const char *trans, const char *diag, const int *n,
             const int *nrhs, const double *a, const int *lda, double *b, const int *ldb,
             int *info, size_t uplo_len, size_t trans_len, size_t diag_len);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork,
             int *info, size_t jobz_len, size_t uplo_len);

#endif
