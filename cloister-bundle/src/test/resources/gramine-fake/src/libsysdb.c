/*
 * A stand-in for Gramine's LibOS (libsysdb.so), written for Cloister's tests. Only its bytes matter: the
 * manifest's loader.entrypoint.sha256 is the SHA-256 of this file.
 */
const char cloister_fake_libos[] = "cloister fake libsysdb: not Gramine";

int libos_init(void) {
    return (int)sizeof(cloister_fake_libos);
}
