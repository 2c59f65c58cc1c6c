package dev.cloister.kbs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLContext;
import org.bouncycastle.crypto.AsymmetricCipherKeyPair;

/**
 * Client of the broker's HTTPS API, for owners (secrets, policies), admins (namespaces, tokens), auditors, and
 * workloads ({@link #release}). Server errors come back as {@link KbsException} with the server's status and
 * message.
 */
public final class KbsClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final URI base;
    private final String token;
    private final HttpClient http;

    /**
     * @param base e.g. {@code https://127.0.0.1:8443}
     * @param token bearer token, or null for workload calls
     * @param tls trusts the broker's certificate
     */
    public KbsClient(URI base, String token, SSLContext tls) {
        this.base = base;
        this.token = token;
        this.http = HttpClient.newBuilder().sslContext(tls).connectTimeout(Duration.ofSeconds(10))
                .version(HttpClient.Version.HTTP_1_1).build();
    }

    /** Produces evidence (quote and collateral) binding the given 64-byte report data. */
    @FunctionalInterface
    public interface EvidenceSource {
        /** @return {quote, collateral or null} */
        byte[][] evidence(byte[] reportData64) throws CloisterException;
    }

    /** A released secret, opened. */
    public record Released(String namespace, String name, int version, SecretKind kind, byte[] value) {}

    /**
     * The workload side of the release protocol: nonce, fresh HPKE key, evidence over SHA-256(nonce || key),
     * request, and opening of the sealed answer.
     */
    public Released release(String ns, String name, Integer version, HpkeSuite kem, EvidenceSource source)
            throws CloisterException {
        byte[] nonce = Base64.getDecoder().decode(call("GET", "/v1/nonce", null).get("nonce").asText());
        AsymmetricCipherKeyPair kp = kem.generateKeyPair();
        byte[] pk = kem.publicKey(kp);
        byte[][] ev = source.evidence(ReleaseBinding.reportData(nonce, pk));
        JsonNode r = call("POST", "/v1/release", releaseRequest(ns, name, version, nonce, ev, kem, pk));
        return openRelease(r, ns, name, kem, kp);
    }

    /**
     * The body of {@code POST /v1/release}, for workloads that cannot reach the broker themselves and have the
     * request relayed (an enclave without network, via its host).
     *
     * @param evidence {quote, collateral or null}, made over {@link ReleaseBinding#reportData}
     */
    public static ObjectNode releaseRequest(String ns, String name, Integer version, byte[] nonce, byte[][] evidence,
            HpkeSuite kem, byte[] publicKey) {
        ObjectNode req = JSON.createObjectNode();
        req.put("namespace", ns);
        req.put("secret", name);
        if (version != null) {
            req.put("version", version);
        }
        req.put("nonce", b64(nonce));
        req.put("evidence", b64(evidence[0]));
        if (evidence.length > 1 && evidence[1] != null) {
            req.put("collateral", b64(evidence[1]));
        }
        req.put("kem", kem.name());
        req.put("publicKey", b64(publicKey));
        return req;
    }

    /**
     * Opens the broker's answer to a release request with the workload's ephemeral key pair.
     *
     * @throws KbsException when the answer is malformed or does not open (tampered, or sealed for another key)
     */
    public static Released openRelease(JsonNode r, String ns, String name, HpkeSuite kem, AsymmetricCipherKeyPair kp)
            throws KbsException {
        if (r == null || !r.hasNonNull("version") || !r.hasNonNull("enc") || !r.hasNonNull("ciphertext")
                || !r.hasNonNull("kind")) {
            throw KbsException.badRequest("release answer is missing version, enc, ciphertext or kind");
        }
        int v = r.get("version").asInt();
        byte[] value;
        try {
            value = kem.open(kp, Base64.getDecoder().decode(r.get("enc").asText()), HpkeSuite.aad(ns, name, v),
                    Base64.getDecoder().decode(r.get("ciphertext").asText()));
        } catch (IllegalArgumentException e) {
            throw KbsException.badRequest("release answer is not base64");
        }
        return new Released(ns, name, v, SecretKind.parse(r.get("kind").asText()), value);
    }

    /** Fetches a fresh nonce (for workloads that build the request themselves). */
    public JsonNode nonce() throws KbsException {
        return call("GET", "/v1/nonce", null);
    }

    /** Creates a namespace (admin). */
    public void createNamespace(String ns) throws KbsException {
        ObjectNode b = JSON.createObjectNode();
        b.put("name", ns);
        call("POST", "/v1/namespaces", b);
    }

    /** Issues a token (admin); the answer has {@code id} and {@code token}. */
    public JsonNode createToken(Role role, String ns) throws KbsException {
        return createToken(role, ns, null);
    }

    /** Issues a token valid for {@code ttl} (null: the broker's default) (admin). */
    public JsonNode createToken(Role role, String ns, java.time.Duration ttl) throws KbsException {
        ObjectNode b = JSON.createObjectNode();
        if (ttl != null) {
            b.put("ttlSeconds", ttl.toSeconds());
        }
        b.put("role", role.label());
        if (ns != null) {
            b.put("namespace", ns);
        }
        return call("POST", "/v1/tokens", b);
    }

    /** Lists tokens (admin). */
    public JsonNode tokens() throws KbsException {
        return call("GET", "/v1/tokens", null);
    }

    /** Revokes a token (admin). */
    public void revokeToken(String id) throws KbsException {
        call("DELETE", "/v1/tokens/" + enc(id), null);
    }

    /** Uploads a new secret (value given) or generates one (value null); rotate adds a version. */
    public JsonNode storeSecret(String ns, String name, SecretKind kind, byte[] value, boolean rotate)
            throws KbsException {
        ObjectNode b = JSON.createObjectNode();
        b.put("kind", kind.label());
        if (value != null) {
            b.put("value", b64(value));
        }
        return call("POST", "/v1/secrets/" + enc(ns) + "/" + enc(name) + (rotate ? "/rotate" : ""), b);
    }

    /** Retires a version. */
    public JsonNode retire(String ns, String name, int version) throws KbsException {
        return call("POST", "/v1/secrets/" + enc(ns) + "/" + enc(name) + "/versions/" + version + "/retire",
                JSON.createObjectNode());
    }

    /** Secret metadata of a namespace. */
    public JsonNode list(String ns) throws KbsException {
        return call("GET", "/v1/secrets/" + enc(ns), null);
    }

    /**
     * Sets a secret's policy; returns the canonical text. In a namespace that requires approvals the change only
     * waits for them: see {@link #proposePolicy}.
     */
    public String setPolicy(String ns, String name, String text) throws KbsException {
        return proposePolicy(ns, name, text).get("policy").asText();
    }

    /**
     * Sets or proposes a secret's policy: {@code {policy, state}} where state is {@code applied}, or {@code pending}
     * with {@code proposal}, {@code approvers} and {@code required} when the namespace requires more approvals.
     */
    public JsonNode proposePolicy(String ns, String name, String text) throws KbsException {
        ObjectNode b = JSON.createObjectNode();
        b.put("policy", text);
        return call("PUT", "/v1/policies/" + enc(ns) + "/" + enc(name), b);
    }

    /** Approves a pending policy change with this client's token; answers as {@link #proposePolicy}. */
    public JsonNode approvePolicy(String ns, String proposal) throws KbsException {
        return call("POST", "/v1/proposals/" + enc(ns) + "/" + enc(proposal) + "/approve", JSON.createObjectNode());
    }

    /** The pending policy changes of a namespace. */
    public JsonNode proposals(String ns) throws KbsException {
        return call("GET", "/v1/proposals/" + enc(ns), null).get("proposals");
    }

    /** Sets how many approvals (distinct tokens) a policy change in {@code ns} needs (admin). */
    public void setPolicyApprovals(String ns, int approvals) throws KbsException {
        ObjectNode b = JSON.createObjectNode();
        b.put("policyApprovals", approvals);
        call("PUT", "/v1/namespaces/" + enc(ns) + "/rules", b);
    }

    /** A secret's policy text. */
    public String policy(String ns, String name) throws KbsException {
        return call("GET", "/v1/policies/" + enc(ns) + "/" + enc(name), null).get("policy").asText();
    }

    /** Audit entries after a sequence number. */
    public List<JsonNode> audit(long after, int limit) throws KbsException {
        List<JsonNode> out = new ArrayList<>();
        call("GET", "/v1/audit?after=" + after + "&limit=" + limit, null).get("entries").forEach(out::add);
        return out;
    }

    /** The broker's signed audit checkpoint (a C2SP signed note), unverified: check it with a pinned key. */
    public String auditCheckpoint() throws KbsException {
        return call("GET", "/v1/audit/checkpoint", null).get("checkpoint").asText();
    }

    /** The log key the broker says it signs with; only for pinning on first use (trust it no more than that). */
    public String auditLogKey() throws KbsException {
        return call("GET", "/v1/audit/checkpoint", null).get("key").asText();
    }

    /** Audit entry {@code seq} and its inclusion proof in the log of {@code size} entries, unverified. */
    public Map.Entry<AuditEntry, List<byte[]>> auditInclusion(long seq, long size) throws KbsException {
        JsonNode r = call("GET", "/v1/audit/proof?seq=" + seq + "&size=" + size, null);
        try {
            return Map.entry(AuditEntry.fromJson(r.get("entry")), hashes(r.get("proof")));
        } catch (IllegalArgumentException e) {
            throw KbsException.badRequest("the broker sent a malformed audit proof: " + e.getMessage());
        }
    }

    /** The consistency proof from the log of {@code from} entries to the log of {@code to}, unverified. */
    public List<byte[]> auditConsistency(long from, long to) throws KbsException {
        JsonNode r = call("GET", "/v1/audit/consistency?from=" + from + "&to=" + to, null);
        try {
            return hashes(r.get("proof"));
        } catch (IllegalArgumentException e) {
            throw KbsException.badRequest("the broker sent a malformed consistency proof: " + e.getMessage());
        }
    }

    private static List<byte[]> hashes(JsonNode a) {
        if (a == null || !a.isArray() || a.size() > 128) {
            throw new IllegalArgumentException("proof is not an array of at most 128 hashes");
        }
        List<byte[]> out = new ArrayList<>();
        for (JsonNode h : a) {
            if (!h.isTextual()) {
                throw new IllegalArgumentException("proof holds a non-string");
            }
            out.add(java.util.HexFormat.of().parseHex(h.asText()));
        }
        return out;
    }

    /** Server-side audit chain check. */
    public JsonNode verifyAudit() throws KbsException {
        return call("GET", "/v1/audit/verify", null);
    }

    /** Sends any request; public so that tests and tools can reach endpoints directly. */
    public JsonNode call(String method, String path, JsonNode body) throws KbsException {
        byte[] raw = null;
        if (body != null) {
            try {
                raw = JSON.writeValueAsBytes(body);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
        HttpResponse<byte[]> r = send(method, path, raw);
        JsonNode j;
        try {
            j = JSON.readTree(r.body());
        } catch (IOException e) {
            throw KbsException.unavailable("broker answered " + r.statusCode() + " with non-JSON", e);
        }
        if (r.statusCode() >= 400) {
            String msg = j != null && j.hasNonNull("error") ? j.get("error").asText() : "HTTP " + r.statusCode();
            throw switch (r.statusCode()) {
                case 400 -> KbsException.badRequest(msg);
                case 401 -> KbsException.unauthorized(msg);
                case 403 -> KbsException.denied(msg);
                case 404 -> KbsException.notFound(msg);
                case 409 -> KbsException.conflict(msg);
                case 413 -> KbsException.tooLarge(msg);
                case 429 -> KbsException.rateLimited(msg);
                default -> KbsException.unavailable("broker: " + msg + " (HTTP " + r.statusCode() + ")", null);
            };
        }
        return j;
    }

    /** Sends raw bytes (for tests of malformed input); returns status and body. */
    public HttpResponse<byte[]> send(String method, String path, byte[] body) throws KbsException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(30));
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        if (body != null) {
            b.header("Content-Type", "application/json");
            b.method(method, HttpRequest.BodyPublishers.ofByteArray(body));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        try {
            return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw KbsException.unavailable("cannot reach broker " + base + ": " + cause(e), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw KbsException.unavailable("interrupted talking to " + base, e);
        }
    }

    /**
     * The first message along the cause chain, with the exception's kind: the JDK's HTTP client throws a
     * {@code ConnectException} without a message around the one that says "Connection refused".
     */
    static String cause(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getMessage() != null && !t.getMessage().isBlank()) {
                return t.getMessage() + " (" + t.getClass().getSimpleName() + ")";
            }
        }
        // no message anywhere (the client's ConnectException for a refused connection has none): say it in words
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.net.ConnectException) {
                return "connection refused (nothing listens there, or a firewall rejects the connection)";
            }
            if (t instanceof java.nio.channels.UnresolvedAddressException
                    || t instanceof java.net.UnknownHostException) {
                return "unknown host";
            }
            if (t instanceof java.net.http.HttpTimeoutException) {
                return "timed out";
            }
        }
        return e.getClass().getSimpleName();
    }

    private static String b64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
