/*
 * Cloister's launcher inside Gramine (gramine-direct): the enclave's first program. It states the bundle's
 * measurement, obtains each job key from the Cloister key broker (the host relays; what crosses is evidence and a
 * key sealed with HPKE to a key pair made here), writes each key to /dev/attestation/keys/<name>, where Gramine's
 * encrypted mounts take it, reads every input once through those mounts (so a wrong key or a tampered input stops
 * the job before the program starts), and then execve()s the bundle's unmodified program in the same enclave.
 *
 * Built statically against OpenSSL's libcrypto (a single trusted file, no libraries to list), by the worker on
 * first use or by scripts/gramine-local:  cc -O2 -static -o cloister-launcher cloister-launcher.c -lcrypto
 *
 * Protocol with the host (the worker), one line per message, hex for bytes:
 *   host -> launcher  key NAME SECRET NONCE RECORDHASH     (one per key; RECORDHASH is 64 hex digits or "-")
 *   host -> launcher  go
 *   launcher -> host  release SECRET MRENCLAVE ISVPRODID ISVSVN REPORTDATA PUBLICKEY
 *   host -> launcher  sealed VERSION ENC CIPHERTEXT      or   refused KIND MESSAGE...
 *   launcher -> host  input-refused PATH ERRNO           (and exit 1), or
 *   launcher -> host  exec                               then the program's own output follows
 * argv: /cloister/launcher PROGRAM ARGV0 ARGV1 ...  (the manifest's loader.argv, measured on SGX)
 * Exit codes (before exec): 1 refused or an input does not authenticate, 3 malformed message, 4 environment.
 * Nothing secret is ever printed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>

#define MANIFEST "/cloister/bundle.manifest"
#define KEYS_DIR "/dev/attestation/keys/"
#define INPUTS "/inputs"
#define MAX_KEYS 64
#define LINE_MAX_LEN (1 << 20)

extern char** environ;

static void die(int code, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cloister-launcher: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static char* read_line(void) {
    static char buf[LINE_MAX_LEN];
    if (!fgets(buf, sizeof(buf), stdin))
        die(4, "the host closed the channel");
    size_t n = strlen(buf);
    if (n == sizeof(buf) - 1 && buf[n - 1] != '\n')
        die(3, "host message too long");
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    return buf;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes hex into a fresh buffer; exits 3 on malformed input. */
static unsigned char* unhex(const char* s, size_t* len, const char* what) {
    size_t n = strlen(s);
    if (n % 2)
        die(3, "%s is not hex", what);
    unsigned char* out = malloc(n / 2 + 1);
    if (!out)
        die(4, "out of memory");
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            die(3, "%s is not hex", what);
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

static void hex(const unsigned char* b, size_t n, char* out) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

static void sha256(const void* a, size_t an, const void* b, size_t bn, unsigned char out[32]) {
    EVP_MD_CTX* c = EVP_MD_CTX_new();
    unsigned int len = 32;
    if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL) || !EVP_DigestUpdate(c, a, an)
            || (bn && !EVP_DigestUpdate(c, b, bn)) || !EVP_DigestFinal_ex(c, out, &len))
        die(4, "SHA-256 failed");
    EVP_MD_CTX_free(c);
}

/*
 * The 64 bytes of report data the evidence carries: SHA-256(nonce || public key), then the job record's hash (32
 * bytes; zero while the broker does not bind it). The only place the binding is computed.
 */
static void report_data(const unsigned char* nonce, size_t nonce_len, const unsigned char pk[32],
                        const unsigned char* record_hash, unsigned char out[64]) {
    sha256(nonce, nonce_len, pk, 32, out);
    if (record_hash)
        memcpy(out + 32, record_hash, 32);
    else
        memset(out + 32, 0, 32);
}

/* ---- HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM: open only ---- */

static void hmac256(const unsigned char* key, size_t klen, const unsigned char* msg, size_t mlen,
                    unsigned char out[32]) {
    unsigned int len = 32;
    static const unsigned char zero = 0;
    if (!HMAC(EVP_sha256(), klen ? key : &zero, (int)klen, msg, mlen, out, &len))
        die(4, "HMAC failed");
}

static size_t cat(unsigned char* dst, size_t off, const void* src, size_t n) {
    memcpy(dst + off, src, n);
    return off + n;
}

static void labeled_extract(const unsigned char* suite, size_t slen, const unsigned char* salt, size_t saltlen,
                            const char* label, const unsigned char* ikm, size_t ikmlen, unsigned char out[32]) {
    unsigned char buf[512];
    size_t n = cat(buf, 0, "HPKE-v1", 7);
    n = cat(buf, n, suite, slen);
    n = cat(buf, n, label, strlen(label));
    n = cat(buf, n, ikm, ikmlen);
    hmac256(salt, saltlen, buf, n, out);
}

static void labeled_expand(const unsigned char* suite, size_t slen, const unsigned char prk[32], const char* label,
                           const unsigned char* info, size_t infolen, unsigned char* out, size_t L) {
    unsigned char buf[512];
    size_t n = 0;
    buf[n++] = (unsigned char)(L >> 8);
    buf[n++] = (unsigned char)L;
    n = cat(buf, n, "HPKE-v1", 7);
    n = cat(buf, n, suite, slen);
    n = cat(buf, n, label, strlen(label));
    n = cat(buf, n, info, infolen);
    /* HKDF-Expand with one block is enough: L <= 32 */
    unsigned char t[512 + 1];
    memcpy(t, buf, n);
    t[n] = 1;
    unsigned char block[32];
    hmac256(prk, 32, t, n + 1, block);
    memcpy(out, block, L);
    OPENSSL_cleanse(block, sizeof(block));
}

static const char INFO[] = "cloister-kbs release v1";

/* Opens the broker's sealed reply; returns the plaintext length, or -1 when it does not authenticate. */
static int hpke_open(EVP_PKEY* kp, const unsigned char pk[32], const unsigned char* enc, size_t enclen,
                     const unsigned char* aad, size_t aadlen, const unsigned char* ct, size_t ctlen,
                     unsigned char* out) {
    if (enclen != 32 || ctlen < 16)
        return -1;
    unsigned char dh[32];
    size_t dhlen = 32;
    EVP_PKEY* peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, enc, 32);
    EVP_PKEY_CTX* c = EVP_PKEY_CTX_new(kp, NULL);
    if (!peer || !c || EVP_PKEY_derive_init(c) <= 0 || EVP_PKEY_derive_set_peer(c, peer) <= 0
            || EVP_PKEY_derive(c, dh, &dhlen) <= 0 || dhlen != 32) {
        EVP_PKEY_CTX_free(c);
        EVP_PKEY_free(peer);
        return -1;
    }
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(peer);
    const unsigned char kem_suite[] = {'K', 'E', 'M', 0x00, 0x20};
    const unsigned char suite[] = {'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x01};
    unsigned char eae_prk[32], kem_ctx[64], shared[32];
    labeled_extract(kem_suite, sizeof(kem_suite), NULL, 0, "eae_prk", dh, 32, eae_prk);
    memcpy(kem_ctx, enc, 32);
    memcpy(kem_ctx + 32, pk, 32);
    labeled_expand(kem_suite, sizeof(kem_suite), eae_prk, "shared_secret", kem_ctx, 64, shared, 32);
    unsigned char psk_id_hash[32], info_hash[32], ks_ctx[65], secret[32], key[16], nonce[12];
    labeled_extract(suite, sizeof(suite), NULL, 0, "psk_id_hash", NULL, 0, psk_id_hash);
    labeled_extract(suite, sizeof(suite), NULL, 0, "info_hash", (const unsigned char*)INFO, strlen(INFO), info_hash);
    ks_ctx[0] = 0; /* mode_base */
    memcpy(ks_ctx + 1, psk_id_hash, 32);
    memcpy(ks_ctx + 33, info_hash, 32);
    labeled_extract(suite, sizeof(suite), shared, 32, "secret", NULL, 0, secret);
    labeled_expand(suite, sizeof(suite), secret, "key", ks_ctx, 65, key, 16);
    labeled_expand(suite, sizeof(suite), secret, "base_nonce", ks_ctx, 65, nonce, 12);
    OPENSSL_cleanse(dh, 32);
    OPENSSL_cleanse(eae_prk, 32);
    OPENSSL_cleanse(shared, 32);
    OPENSSL_cleanse(secret, 32);

    int ok = 0, len = 0, fin = 0;
    EVP_CIPHER_CTX* g = EVP_CIPHER_CTX_new();
    size_t ptlen = ctlen - 16;
    if (g && EVP_DecryptInit_ex(g, EVP_aes_128_gcm(), NULL, NULL, NULL)
            && EVP_CIPHER_CTX_ctrl(g, EVP_CTRL_GCM_SET_IVLEN, 12, NULL)
            && EVP_DecryptInit_ex(g, NULL, NULL, key, nonce)
            && EVP_DecryptUpdate(g, NULL, &len, aad, (int)aadlen)
            && EVP_DecryptUpdate(g, out, &len, ct, (int)ptlen)
            && EVP_CIPHER_CTX_ctrl(g, EVP_CTRL_GCM_SET_TAG, 16, (void*)(ct + ptlen))
            && EVP_DecryptFinal_ex(g, out + len, &fin) > 0)
        ok = 1;
    EVP_CIPHER_CTX_free(g);
    OPENSSL_cleanse(key, 16);
    if (!ok) {
        OPENSSL_cleanse(out, ptlen);
        return -1;
    }
    return len + fin;
}

/* ---- identity ---- */

static unsigned char g_mrenclave[32];
static long g_isvprodid, g_isvsvn;

/* The bundle measurement: SHA-256("cloister-bundle-measurement-v1" || 0x00 || entrypoint.manifest). Gramine checked
 * the manifest file against its trusted hash when this opened it. */
static void measure(void) {
    FILE* f = fopen(MANIFEST, "rb");
    if (!f)
        die(4, "cannot open %s: %s", MANIFEST, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char* buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    if (!buf || ferror(f))
        die(4, "cannot read %s", MANIFEST);
    fclose(f);
    buf[n] = 0;
    static const char prefix[] = "cloister-bundle-measurement-v1";
    sha256(prefix, sizeof(prefix), buf, n, g_mrenclave); /* sizeof includes the NUL separator */
    char* p;
    if ((p = strstr(buf, "\nsgx.isvprodid = ")))
        g_isvprodid = strtol(p + 17, NULL, 10);
    if ((p = strstr(buf, "\nsgx.isvsvn = ")))
        g_isvsvn = strtol(p + 14, NULL, 10);
    free(buf);
}

/* ---- keys ---- */

struct keyreq {
    char name[128], secret[512];
    unsigned char* nonce;
    size_t nonce_len;
    unsigned char record_hash[32];
    int has_record_hash;
};

static void obtain(struct keyreq* k) {
    EVP_PKEY* kp = NULL;
    EVP_PKEY_CTX* c = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
    if (!c || EVP_PKEY_keygen_init(c) <= 0 || EVP_PKEY_keygen(c, &kp) <= 0)
        die(4, "cannot make an X25519 key pair");
    EVP_PKEY_CTX_free(c);
    unsigned char pk[32];
    size_t pklen = 32;
    if (!EVP_PKEY_get_raw_public_key(kp, pk, &pklen) || pklen != 32)
        die(4, "cannot read the X25519 public key");
    unsigned char rd[64];
    report_data(k->nonce, k->nonce_len, pk, k->has_record_hash ? k->record_hash : NULL, rd);
    char mr[65], rdh[129], pkh[65];
    hex(g_mrenclave, 32, mr);
    hex(rd, 64, rdh);
    hex(pk, 32, pkh);
    printf("release %s %s %ld %ld %s %s\n", k->secret, mr, g_isvprodid, g_isvsvn, rdh, pkh);
    fflush(stdout);

    char* line = read_line();
    if (strncmp(line, "refused ", 8) == 0) {
        /* The host's words, not ours: the broker's reason (no secret in it). */
        char* kind = line + 8;
        char* msg = strchr(kind, ' ');
        if (msg)
            *msg++ = 0;
        die(strcmp(kind, "ENVIRONMENT") == 0 ? 4 : strcmp(kind, "BAD_INPUT") == 0 ? 3 : 1,
            "the broker refused %s: %s", k->secret, msg ? msg : "no reason given");
    }
    char* save;
    char* w = strtok_r(line, " ", &save);
    char* ver = strtok_r(NULL, " ", &save);
    char* ench = strtok_r(NULL, " ", &save);
    char* cth = strtok_r(NULL, " ", &save);
    if (!w || strcmp(w, "sealed") || !ver || !ench || !cth || strtok_r(NULL, " ", &save))
        die(3, "malformed reply to the release of %s", k->secret);
    char* end;
    long version = strtol(ver, &end, 10);
    if (*end || version < 0 || version > 1000000000L)
        die(3, "malformed secret version");
    size_t enclen, ctlen;
    unsigned char* enc = unhex(ench, &enclen, "enc");
    unsigned char* ct = unhex(cth, &ctlen, "ciphertext");
    /* aad = "cloister-kbs secret\0" NS "\0" NAME "\0" VERSION, with SECRET = NS/NAME */
    char* slash = strchr(k->secret, '/');
    if (!slash)
        die(3, "secret %s is not NAMESPACE/NAME", k->secret);
    char aad[1200];
    size_t an = 0;
    static const char head[] = "cloister-kbs secret";
    an = cat((unsigned char*)aad, an, head, sizeof(head));
    an = cat((unsigned char*)aad, an, k->secret, (size_t)(slash - k->secret));
    aad[an++] = 0;
    an = cat((unsigned char*)aad, an, slash + 1, strlen(slash + 1));
    aad[an++] = 0;
    an += (size_t)snprintf(aad + an, sizeof(aad) - an, "%ld", version);
    unsigned char* plain = malloc(ctlen + 1);
    int plen = plain ? hpke_open(kp, pk, enc, enclen, (unsigned char*)aad, an, ct, ctlen, plain) : -1;
    EVP_PKEY_free(kp);
    free(enc);
    free(ct);
    if (plen < 0)
        die(1, "the sealed key for %s does not open (altered, or sealed for another key)", k->secret);
    if (plen != 16) {
        OPENSSL_cleanse(plain, (size_t)plen);
        die(3, "the key %s has %d bytes, not 16", k->secret, plen);
    }
    char path[256];
    snprintf(path, sizeof(path), KEYS_DIR "%s", k->name);
    int fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, plain, 16) != 16)
        die(4, "cannot install the key at %s: %s", path, strerror(errno));
    close(fd);
    OPENSSL_cleanse(plain, 16);
    free(plain);
}

/* Reads every file under dir through Gramine's encrypted mount: each must authenticate. */
static void check_inputs(const char* dir) {
    DIR* d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return;
        printf("input-refused %s %s\n", dir, strerrorname_np(errno) ? strerrorname_np(errno) : "error");
        fflush(stdout);
        die(1, "cannot list %s: %s", dir, strerror(errno));
    }
    struct dirent* e;
    static char buf[1 << 16];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            check_inputs(path);
            continue;
        }
        int fd = open(path, O_RDONLY);
        ssize_t r = 0;
        if (fd >= 0)
            while ((r = read(fd, buf, sizeof(buf))) > 0)
                ;
        if (fd < 0 || r < 0) {
            int err = errno;
            printf("input-refused %s %s\n", path, strerrorname_np(err) ? strerrorname_np(err) : "error");
            fflush(stdout);
            die(1, "input %s does not authenticate with the released key: %s", path, strerror(err));
        }
        close(fd);
    }
    closedir(d);
    OPENSSL_cleanse(buf, sizeof(buf));
}

int main(int argc, char** argv) {
    if (argc < 3)
        die(3, "usage: %s PROGRAM ARGV0 [ARG...]", argv[0]);
    measure();
    struct keyreq* keys = calloc(MAX_KEYS, sizeof(*keys));
    int nkeys = 0;
    for (;;) {
        char* line = read_line();
        if (!strcmp(line, "go"))
            break;
        char* save;
        char* w = strtok_r(line, " ", &save);
        char* name = strtok_r(NULL, " ", &save);
        char* secret = strtok_r(NULL, " ", &save);
        char* nonce = strtok_r(NULL, " ", &save);
        char* rh = strtok_r(NULL, " ", &save);
        if (!w || strcmp(w, "key") || !name || !secret || !nonce || !rh || strtok_r(NULL, " ", &save))
            die(3, "malformed key request from the host");
        if (nkeys == MAX_KEYS)
            die(3, "more than %d keys", MAX_KEYS);
        struct keyreq* k = &keys[nkeys++];
        if (strlen(name) >= sizeof(k->name) || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")
                || strlen(secret) >= sizeof(k->secret))
            die(3, "bad key name or secret from the host");
        strcpy(k->name, name);
        strcpy(k->secret, secret);
        k->nonce = unhex(nonce, &k->nonce_len, "nonce");
        if (strcmp(rh, "-")) {
            size_t l;
            unsigned char* h = unhex(rh, &l, "record hash");
            if (l != 32)
                die(3, "record hash is not 32 bytes");
            memcpy(k->record_hash, h, 32);
            free(h);
            k->has_record_hash = 1;
        }
    }
    for (int i = 0; i < nkeys; i++)
        obtain(&keys[i]);
    check_inputs(INPUTS);
    if (access(argv[1], X_OK) != 0)
        die(4, "the program %s cannot be started: %s", argv[1], strerror(errno));
    /* The channel is done: the program gets no stdin. */
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) {
        dup2(nul, 0);
        close(nul);
    }
    printf("exec\n");
    fflush(stdout);
    execve(argv[1], argv + 2, environ);
    die(127, "execve %s failed: %s", argv[1], strerror(errno));
}
