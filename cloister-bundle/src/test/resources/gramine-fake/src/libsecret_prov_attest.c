/*
 * A stand-in for Gramine's runtime/glibc/libsecret_prov_attest.so, written for Cloister's tests. A bundle
 * built with --broker-ca lists this library as a trusted file; its hash comes from the Gramine installation.
 */
const char cloister_fake_secret_prov[] = "cloister fake secret-prov library: not Gramine";
