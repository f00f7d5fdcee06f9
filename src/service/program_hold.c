/*
 * program_hold.c - the program in force held for a caller outside the service (an HTTP
 * handler reading the offers preferences): a public face of versions.c's reference count.
 */
#include "service/service.h"
#include "service/service_internal.h"

const ly_program *ly_service_program_hold(ly_service *s, ly_program_ref **ref)
{
    *ref = ly__program_acquire(s);
    return &(*ref)->p;
}

void ly_service_program_unhold(ly_service *s, ly_program_ref *ref)
{
    ly__program_release(s, ref);
}
