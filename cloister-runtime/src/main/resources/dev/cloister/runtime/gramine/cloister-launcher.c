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
 *   host -> launcher  key NAME SECRET NONCE              (one per key; the host never states the record hash)
 *   host -> launcher  go
 *   launcher -> host  release SECRET MRENCLAVE ISVPRODID ISVSVN REPORTDATA PUBLICKEY
 *   host -> launcher  sealed VERSION ENC CIPHERTEXT      or   refused KIND MESSAGE...
 *   launcher -> host  input-refused PATH ERRNO           (and exit 1), or
 *   launcher -> host  exec                               then the program's own output follows
 * argv: /cloister/launcher PROGRAM ARGV0 ARGV1 ...  (the manifest's loader.argv, measured on SGX)
 *
 * The job record: /cloister/job.json, the record's RFC 8785 canonical JSON, a trusted file of the manifest (Gramine
 * refuses it if its bytes differ from the SHA-256 there; on SGX that hash is part of MRENCLAVE). The launcher hashes
 * it itself for the report data's second half, so the broker (which releases a job key only for the record hash
 * its owner registered) releases nothing to a launcher holding any other record. Before anything is released the
 * launcher checks that what it will run is what that record says: its own argv is PROGRAM, then the bundle
 * manifest's loader.argv (its libos.entrypoint and loader.argv lines), then exactly the record's args; its
 * environment holds exactly the record's env plus the bundle manifest's own loader.env values and passthrough
 * names (never LD_PRELOAD, LD_LIBRARY_PATH or SECRET_PROVISION_*); the keys the host asks for are exactly the
 * record's secrets; and, once the keys are in, the files under /inputs are exactly the record's input paths (each
 * authenticating) and /outputs holds no file. Anything else: exit 1 before any key is installed or the program runs.
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
#define RECORD "/cloister/job.json"
#define OUTPUTS "/outputs"
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
 * The 64 bytes of report data the evidence carries: SHA-256(nonce || public key), then the SHA-256 of the job record
 * file this launcher read itself (never a hash the host states). The only place the binding is computed.
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

/* Reads a whole file into a NUL-terminated buffer (Gramine checks a trusted file's hash as it is read). */
static char* read_file(const char* path, size_t* len) {
    FILE* f = fopen(path, "rb");
    if (!f)
        die(4, "cannot open %s: %s", path, strerror(errno));
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
        die(4, "cannot read %s", path);
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static char* g_manifest;
static size_t g_manifest_len;

/* The bundle measurement: SHA-256("cloister-bundle-measurement-v1" || 0x00 || entrypoint.manifest). Gramine checked
 * the manifest file against its trusted hash when this opened it. */
static void measure(void) {
    char* buf = read_file(MANIFEST, &g_manifest_len);
    static const char prefix[] = "cloister-bundle-measurement-v1";
    sha256(prefix, sizeof(prefix), buf, g_manifest_len, g_mrenclave); /* sizeof includes the NUL separator */
    char* p;
    if ((p = strstr(buf, "\nsgx.isvprodid = ")))
        g_isvprodid = strtol(p + 17, NULL, 10);
    if ((p = strstr(buf, "\nsgx.isvsvn = ")))
        g_isvsvn = strtol(p + 14, NULL, 10);
    g_manifest = buf;
}

/* ---- the job record: canonical JSON (RFC 8785), parsed strictly ---- */

enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
struct jv {
    enum jt t;
    char* s;          /* J_STR: the string (no NUL inside: refused) */
    int n;            /* J_ARR, J_OBJ: number of items */
    char** keys;      /* J_OBJ */
    struct jv** items;
};

static const char* jp;

static void jfail(const char* what) { die(1, "the job record is malformed (%s)", what); }

static char* jstring(void) {
    if (*jp != '"')
        jfail("string expected");
    jp++;
    size_t cap = 64, n = 0;
    char* out = malloc(cap);
    for (;;) {
        if (!out)
            die(4, "out of memory");
        if (n + 8 > cap)
            out = realloc(out, cap *= 2);
        unsigned char c = (unsigned char)*jp++;
        if (c == 0 || c < 0x20)
            jfail("unterminated or raw control character");
        if (c == '"')
            break;
        if (c != '\\') {
            out[n++] = (char)c;
            continue;
        }
        char e = *jp++;
        switch (e) {
            case '"': out[n++] = '"'; break;
            case '\\': out[n++] = '\\'; break;
            case 'b': out[n++] = '\b'; break;
            case 't': out[n++] = '\t'; break;
            case 'n': out[n++] = '\n'; break;
            case 'f': out[n++] = '\f'; break;
            case 'r': out[n++] = '\r'; break;
            case 'u': {
                /* canonical JSON escapes only control characters this way; NUL would cut a C string */
                int v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(jp[i]);
                    if (h < 0)
                        jfail("bad \\u escape");
                    v = v << 4 | h;
                }
                jp += 4;
                if (v == 0 || v >= 0x20)
                    jfail("\\u escape outside the canonical form");
                out[n++] = (char)v;
                break;
            }
            default: jfail("bad escape");
        }
    }
    out[n] = 0;
    return out;
}

static struct jv* jvalue(int depth) {
    if (depth > 16)
        jfail("nested too deeply");
    struct jv* v = calloc(1, sizeof(*v));
    if (!v)
        die(4, "out of memory");
    if (*jp == '"') {
        v->t = J_STR;
        v->s = jstring();
    } else if (*jp == '[' || *jp == '{') {
        int obj = *jp++ == '{';
        v->t = obj ? J_OBJ : J_ARR;
        char close = obj ? '}' : ']';
        int cap = 8;
        v->items = malloc(cap * sizeof(*v->items));
        v->keys = malloc(cap * sizeof(*v->keys));
        if (*jp == close) {
            jp++;
            return v;
        }
        for (;;) {
            if (!v->items || !v->keys)
                die(4, "out of memory");
            if (v->n == cap) {
                cap *= 2;
                v->items = realloc(v->items, cap * sizeof(*v->items));
                v->keys = realloc(v->keys, cap * sizeof(*v->keys));
                if (!v->items || !v->keys)
                    die(4, "out of memory");
            }
            v->keys[v->n] = NULL;
            if (obj) {
                v->keys[v->n] = jstring();
                if (*jp++ != ':')
                    jfail("':' expected");
            }
            v->items[v->n++] = jvalue(depth + 1);
            if (*jp == ',') {
                jp++;
                continue;
            }
            if (*jp++ != close)
                jfail("',' or end expected");
            return v;
        }
    } else if (!strncmp(jp, "null", 4)) {
        v->t = J_NULL;
        jp += 4;
    } else if (!strncmp(jp, "true", 4) || !strncmp(jp, "false", 5)) {
        v->t = J_BOOL;
        jp += *jp == 't' ? 4 : 5;
    } else if (*jp == '-' || (*jp >= '0' && *jp <= '9')) {
        v->t = J_NUM;
        if (*jp == '-')
            jp++;
        if (*jp < '0' || *jp > '9')
            jfail("bad number");
        while (*jp >= '0' && *jp <= '9')
            jp++;
    } else {
        jfail("unexpected character");
    }
    return v;
}

static struct jv* jget(struct jv* o, const char* key) {
    for (int i = 0; o && o->t == J_OBJ && i < o->n; i++)
        if (!strcmp(o->keys[i], key))
            return o->items[i];
    return NULL;
}

static struct jv* g_record;
static unsigned char g_record_hash[32];

/* Reads the record Gramine integrity-checked, hashes the exact bytes and parses them. */
static void load_record(void) {
    size_t n;
    char* buf = read_file(RECORD, &n);
    if (strlen(buf) != n)
        jfail("NUL byte");
    sha256(buf, n, NULL, 0, g_record_hash);
    jp = buf;
    g_record = jvalue(0);
    if (*jp)
        jfail("trailing bytes");
    if (g_record->t != J_OBJ)
        jfail("not an object");
    struct jv* args = jget(g_record, "args");
    struct jv* env = jget(g_record, "env");
    struct jv* inputs = jget(g_record, "inputs");
    struct jv* secret = jget(g_record, "secret");
    struct jv* keys = jget(g_record, "keys");
    if (!args || args->t != J_ARR || !env || env->t != J_OBJ || !inputs || inputs->t != J_ARR || !secret
            || secret->t != J_STR || (keys && keys->t != J_OBJ && keys->t != J_NULL))
        jfail("args, env, inputs or secret missing or of the wrong type");
    for (int i = 0; i < args->n; i++)
        if (args->items[i]->t != J_STR)
            jfail("an argument is not a string");
    for (int i = 0; i < env->n; i++)
        if (env->items[i]->t != J_STR)
            jfail("an env value is not a string");
    for (int i = 0; i < inputs->n; i++) {
        struct jv* p = jget(inputs->items[i], "path");
        if (!p || p->t != J_STR)
            jfail("an input has no path");
    }
    for (int i = 0; keys && keys->t == J_OBJ && i < keys->n; i++)
        if (keys->items[i]->t != J_STR)
            jfail("a key name is not a string");
}

/* ---- checks: what runs is what the record says ---- */

static void refuse(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    printf("record-mismatch %s\n", msg);
    fflush(stdout);
    die(1, "what the host set up differs from the job record: %s; the program did not run", msg);
}

/* Appends s as the bundle writer (dev.cloister.bundle.Toml) writes a TOML basic string. */
static void toml_string(char** out, size_t* len, size_t* cap, const char* s) {
    size_t need = *len + 6 * strlen(s) + 4;
    if (need > *cap) {
        *cap = need * 2;
        *out = realloc(*out, *cap);
        if (!*out)
            die(4, "out of memory");
    }
    char* o = *out + *len;
    *o++ = '"';
    for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
        switch (*p) {
            case '"': *o++ = '\\'; *o++ = '"'; break;
            case '\\': *o++ = '\\'; *o++ = '\\'; break;
            case '\n': *o++ = '\\'; *o++ = 'n'; break;
            case '\t': *o++ = '\\'; *o++ = 't'; break;
            case '\r': *o++ = '\\'; *o++ = 'r'; break;
            case '\b': *o++ = '\\'; *o++ = 'b'; break;
            case '\f': *o++ = '\\'; *o++ = 'f'; break;
            default:
                if (*p < 0x20 || *p == 0x7f)
                    o += sprintf(o, "\\u%04X", *p);
                else
                    *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o = 0;
    *len = (size_t)(o - *out);
}

static void append(char** out, size_t* len, size_t* cap, const char* s) {
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *out = realloc(*out, *cap);
        if (!*out)
            die(4, "out of memory");
    }
    memcpy(*out + *len, s, n + 1);
    *len += n;
}

/* Whether the bundle manifest has this exact line (the writer puts each top-level key on its own line). */
static int manifest_has(const char* line) {
    size_t n = strlen(line);
    for (const char* p = g_manifest; (p = strstr(p, line)); p++)
        if ((p == g_manifest || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0))
            return 1;
    return 0;
}

static int bare_key(const char* k) {
    if (!*k)
        return 0;
    for (const char* p = k; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* "loader.env.NAME" with NAME quoted as the writer quotes keys. */
static void env_key(char** out, size_t* len, size_t* cap, const char* name) {
    append(out, len, cap, "loader.env.");
    if (bare_key(name))
        append(out, len, cap, name);
    else
        toml_string(out, len, cap, name);
}

static void check_argv(int argc, char** argv) {
    struct jv* args = jget(g_record, "args");
    int head = argc - args->n; /* argv[1] .. argv[head-1]: program and the bundle's loader.argv */
    if (head < 2)
        refuse("the command line has fewer arguments than the record's %d", args->n);
    for (int i = 0; i < args->n; i++)
        if (strcmp(argv[head + i], args->items[i]->s))
            refuse("the program's argv[%d] is not the record's args[%d]", head + i - 2, i);
    size_t len = 0, cap = 256;
    char* want = malloc(cap);
    if (!want)
        die(4, "out of memory");
    want[0] = 0;
    append(&want, &len, &cap, "libos.entrypoint = ");
    toml_string(&want, &len, &cap, argv[1]);
    if (!manifest_has(want))
        refuse("the program is not the bundle's libos.entrypoint");
    len = 0;
    want[0] = 0;
    append(&want, &len, &cap, "loader.argv = ");
    if (head == 2) {
        append(&want, &len, &cap, "[]");
    } else {
        append(&want, &len, &cap, "[\n");
        for (int i = 2; i < head; i++) {
            append(&want, &len, &cap, "  ");
            toml_string(&want, &len, &cap, argv[i]);
            append(&want, &len, &cap, ",\n");
        }
        append(&want, &len, &cap, "]");
    }
    if (!manifest_has(want))
        refuse("the arguments before the record's args are not the bundle's loader.argv");
    free(want);
}

/* Names only the bundle may fix (never the record, never the host): they change what code runs, or how and from
 * whom keys come. LD_PRELOAD and SECRET_PROVISION_* belong to Gramine's own provisioning, absent under
 * gramine-direct, so they are refused even when the bundle's manifest has them. */
static int reserved_env(const char* name, size_t n) {
    return (n == 10 && !strncmp(name, "LD_PRELOAD", n)) || (n >= 17 && !strncmp(name, "SECRET_PROVISION_", 17));
}

static int loader_env(const char* name) {
    return !strcmp(name, "LD_PRELOAD") || !strcmp(name, "LD_LIBRARY_PATH") || !strncmp(name, "SECRET_PROVISION_", 17);
}

static void check_env(void) {
    struct jv* env = jget(g_record, "env");
    for (int i = 0; i < env->n; i++) {
        if (loader_env(env->keys[i]))
            refuse("the record's env sets %s, which a job may not set", env->keys[i]);
        const char* v = getenv(env->keys[i]);
        if (!v || strcmp(v, env->items[i]->s))
            refuse("the record's env %s is not set to the record's value", env->keys[i]);
    }
    size_t len = 0, cap = 256;
    char* want = malloc(cap);
    if (!want)
        die(4, "out of memory");
    for (char** e = environ; *e; e++) {
        char* eq = strchr(*e, '=');
        if (!eq)
            refuse("an environment entry without '='");
        size_t n = (size_t)(eq - *e);
        char* name = strndup(*e, n);
        if (!name)
            die(4, "out of memory");
        for (char** f = environ; f < e; f++)
            if (!strncmp(*f, *e, n + 1))
                refuse("the environment sets %s twice", name);
        struct jv* r = jget(env, name);
        if (r) { /* checked above: the record's value */
            free(name);
            continue;
        }
        if (reserved_env(name, n))
            refuse("the environment sets %s, which is reserved for Gramine's own key provisioning", name);
        len = 0;
        want[0] = 0;
        env_key(&want, &len, &cap, name);
        size_t k = len;
        append(&want, &len, &cap, " = ");
        toml_string(&want, &len, &cap, eq + 1);
        int fixed = manifest_has(want);
        want[k] = 0;
        len = k;
        append(&want, &len, &cap, " = { passthrough = true }");
        if (!fixed && !manifest_has(want))
            refuse("the environment sets %s, which is neither in the record's env nor the bundle's loader.env", name);
        free(name);
    }
    free(want);
}

/* Whether SECRET is the record's job key or one of its per-file keys. */
static int record_secret(const char* secret) {
    if (!strcmp(jget(g_record, "secret")->s, secret))
        return 1;
    struct jv* keys = jget(g_record, "keys");
    for (int i = 0; keys && keys->t == J_OBJ && i < keys->n; i++)
        if (!strcmp(keys->items[i]->s, secret))
            return 1;
    return 0;
}

/* ---- keys ---- */

struct keyreq {
    char name[128], secret[512];
    unsigned char* nonce;
    size_t nonce_len;
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
    report_data(k->nonce, k->nonce_len, pk, g_record_hash, rd);
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

static int g_inputs_seen;

/* Whether PATH is one of the record's input paths. */
static int record_input(const char* path) {
    struct jv* inputs = jget(g_record, "inputs");
    for (int i = 0; i < inputs->n; i++)
        if (!strcmp(jget(inputs->items[i], "path")->s, path))
            return 1;
    return 0;
}

/* Refuses any regular file under dir (outputs from an earlier run must not be taken for this run's). */
static void check_empty(const char* dir) {
    DIR* d = opendir(dir);
    if (!d)
        return;
    struct dirent* e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            check_empty(path);
        else
            refuse("%s exists before the program ran", path);
    }
    closedir(d);
}

/* Reads every file under dir through Gramine's encrypted mount: each must be one of the record's inputs and
 * authenticate. */
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
        if (!record_input(path))
            refuse("%s is not one of the record's inputs", path);
        g_inputs_seen++;
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
    load_record();
    check_argv(argc, argv);
    check_env();
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
        if (!w || strcmp(w, "key") || !name || !secret || !nonce || strtok_r(NULL, " ", &save))
            die(3, "malformed key request from the host (KEY NAME SECRET NONCE; the host states no record hash)");
        if (nkeys == MAX_KEYS)
            die(3, "more than %d keys", MAX_KEYS);
        struct keyreq* k = &keys[nkeys++];
        if (strlen(name) >= sizeof(k->name) || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")
                || strlen(secret) >= sizeof(k->secret))
            die(3, "bad key name or secret from the host");
        strcpy(k->name, name);
        strcpy(k->secret, secret);
        k->nonce = unhex(nonce, &k->nonce_len, "nonce");
        if (!record_secret(secret))
            refuse("the host asks for key %s, which the record does not name", secret);
        for (int i = 0; i < nkeys - 1; i++)
            if (!strcmp(keys[i].secret, secret) || !strcmp(keys[i].name, name))
                refuse("the host asks for key %s or name %s twice", secret, name);
    }
    /* Every key the record names must be obtained: a program run without one could see unencrypted files. */
    int have_job_key = 0;
    for (int i = 0; i < nkeys; i++)
        have_job_key |= !strcmp(keys[i].secret, jget(g_record, "secret")->s);
    if (!have_job_key)
        refuse("the host does not ask for the record's job key");
    struct jv* rkeys = jget(g_record, "keys");
    for (int j = 0; rkeys && rkeys->t == J_OBJ && j < rkeys->n; j++) {
        int found = 0;
        for (int i = 0; i < nkeys; i++)
            found |= !strcmp(keys[i].secret, rkeys->items[j]->s);
        if (!found)
            refuse("the host does not ask for key %s, which the record names", rkeys->items[j]->s);
    }
    for (int i = 0; i < nkeys; i++)
        obtain(&keys[i]);
    check_inputs(INPUTS);
    if (g_inputs_seen != jget(g_record, "inputs")->n)
        refuse("/inputs holds %d of the record's %d inputs", g_inputs_seen, jget(g_record, "inputs")->n);
    check_empty(OUTPUTS);
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
