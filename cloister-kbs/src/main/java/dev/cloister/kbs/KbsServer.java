package dev.cloister.kbs;

import static dev.cloister.kbs.ApiRequests.b64;
import static dev.cloister.kbs.ApiRequests.parseLong;
import static dev.cloister.kbs.ApiRequests.parseVersion;
import static dev.cloister.kbs.ApiRequests.positiveInt;
import static dev.cloister.kbs.ApiRequests.query;
import static dev.cloister.kbs.ApiRequests.readJson;
import static dev.cloister.kbs.ApiRequests.required;
import static dev.cloister.kbs.ApiRequests.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker's HTTPS JSON API (docs/kbs-api.md): routing, authentication, rate limits and the JSON forms, over
 * {@link HttpsTransport} (Jetty's core server, one virtual thread per request; connections capped per client
 * address, unfinished TLS handshakes timed out). Bodies are capped, and each token (or, for unauthenticated release
 * calls, each client address) has a rate limit.
 */
public final class KbsServer implements AutoCloseable {
    /** Largest request body accepted. */
    public static final int MAX_BODY = 1 << 20;

    private static final Logger LOG = LoggerFactory.getLogger(KbsServer.class);
    /** Most audit entries one {@code GET /v1/audit} returns. */
    static final int MAX_AUDIT_PAGE = 1000;

    private static final ObjectMapper JSON = ApiRequests.JSON;

    /** The methods any endpoint takes; others are 405 before anything else is looked at. */
    private static final List<String> METHODS = List.of("GET", "POST", "PUT", "DELETE");
    private static final Base64.Encoder B64 = Base64.getEncoder();

    private final KeyBroker broker;
    private HttpsTransport transport;
    private final RateLimiter limiter;
    private final Clock clock;
    private final BrokerMetrics metrics;

    private KbsServer(KeyBroker broker, RateLimiter limiter) {
        this.broker = broker;
        this.metrics = new BrokerMetrics(broker);
        this.limiter = limiter;
        this.clock = broker.store().clock();
    }

    /**
     * Starts serving.
     *
     * @param listen address and port (port 0 picks a free one)
     * @param ratePerSecond sustained requests per second per token or client address (0: unlimited)
     */
    public static KbsServer start(KeyBroker broker, InetSocketAddress listen, Tls tls, double ratePerSecond)
            throws IOException {
        return start(broker, listen, tls, ratePerSecond, ConnectionLimits.DEFAULT);
    }

    /** As above, with explicit connection limits (per-address cap, TLS handshake and idle timeouts). */
    public static KbsServer start(KeyBroker broker, InetSocketAddress listen, Tls tls, double ratePerSecond,
            ConnectionLimits limits) throws IOException {
        KbsServer k = new KbsServer(broker, new RateLimiter(ratePerSecond, Math.max(10, ratePerSecond * 2)));
        k.transport = HttpsTransport.start(listen, tls.serverContext(null), limits, k::handle);
        k.metrics.transport(k.transport);
        Thread.ofVirtual().name("kbs-log-prepare").start(() -> {
            try {
                broker.store().prepareLog();
            } catch (KbsException | RuntimeException e) {
                // Not fatal: the first checkpoint asked for reads the log again and reports the problem then.
                LOG.warn("could not read the audit log into its Merkle tree: {}", e.getMessage());
            }
        });
        return k;
    }

    /** The bound address (with the actual port). */
    public InetSocketAddress address() {
        return transport.address();
    }

    @Override
    public void close() {
        transport.close();
    }

    private HttpsTransport.Answer handle(HttpsTransport.Exchange x) throws IOException {
        long t0 = System.nanoTime();
        String rawPath = x.rawPath;
        boolean scrape = rawPath.equals("/metrics");
        int status;
        ObjectNode body = null;
        byte[] text = null;
        try {
            if (scrape) {
                text = scrape(x);
                status = 200;
            } else {
                body = route(x);
                status = body.has("_status") ? body.remove("_status").asInt() : 200;
            }
        } catch (KbsException e) {
            status = e.httpStatus();
            body = error(status, status == 503 ? unavailable(x, e) : e.getMessage());
        } catch (CloisterException e) {
            status = e.kind() == CloisterException.Kind.DENIED ? 403
                    : e.kind() == CloisterException.Kind.BAD_INPUT ? 400 : 503;
            body = error(status, status == 503 ? unavailable(x, e) : e.getMessage());
        } catch (RuntimeException | StackOverflowError e) {
            LOG.error("internal error on {} {}", x.method, x.rawPath, e);
            status = 500;
            body = error(500, "internal error");
        }
        byte[] out = body == null ? text : JSON.writeValueAsBytes(body);
        if (status == 429) {
            x.responseHeaders.put("Retry-After", "1");
        }
        String[] segments = rawPath.split("/", 4);
        metrics.request(scrape ? "metrics" : segments.length > 2 && segments[1].equals("v1") ? segments[2] : "other",
                status, System.nanoTime() - t0);
        return new HttpsTransport.Answer(status, body == null ? metrics.contentType() : "application/json", out);
    }

    /** {@code GET /metrics}: for admin and global auditor tokens (a Prometheus scraper's bearer token). */
    private byte[] scrape(HttpsTransport.Exchange x) throws KbsException {
        if (!x.method.equals("GET")) {
            throw noRoute(x.method, new String[] {"metrics"});
        }
        Principal who = authenticate(x);
        limit("token:" + who.tokenId());
        if (!who.global()) {
            throw KbsException.denied("metrics need an admin or global auditor token");
        }
        return metrics.scrape();
    }

    /** The one 503 answer: the cause (database host, user, path, driver message) goes to the log, never to clients. */
    static final String UNAVAILABLE = "the broker's database is unavailable; nothing was applied, retry later";

    private static String unavailable(HttpsTransport.Exchange x, CloisterException e) {
        LOG.warn("503 on {} {}: {}", x.method, x.rawPath, e.getMessage());
        return UNAVAILABLE;
    }

    private static ObjectNode error(int status, String message) {
        ObjectNode n = JSON.createObjectNode();
        n.put("status", status);
        n.put("error", message);
        return n;
    }

    private ObjectNode route(HttpsTransport.Exchange x) throws CloisterException, IOException {
        String method = x.method;
        String rawPath = x.rawPath;
        if (!METHODS.contains(method)) {
            // Before authentication: no endpoint takes another method, whoever asks.
            x.responseHeaders.put("Allow", String.join(", ", METHODS));
            throw new KbsException(CloisterException.Kind.BAD_INPUT, 405, "method " + method + " is not allowed");
        }
        if (!rawPath.startsWith("/v1/")) {
            throw KbsException.notFound("no such endpoint " + rawPath);
        }
        String[] p = rawPath.substring(4).split("/", -1);
        for (int i = 0; i < p.length; i++) {
            p[i] = ApiRequests.decode(p[i]);
        }
        String peer = x.peer;
        String root = p[0];
        // Unauthenticated: health, nonce and release (the evidence is the credential there).
        if (root.equals("health") && p.length == 1 && method.equals("GET")) {
            // Touches the database (503 when it is down or damaged) but reveals nothing about its contents.
            broker.store().health();
            ObjectNode n = JSON.createObjectNode();
            n.put("status", "ok");
            return n;
        }
        if (root.equals("nonce") && p.length == 1 && method.equals("GET")) {
            limit("addr:" + peer);
            byte[] nonce = broker.nonce();
            ObjectNode n = JSON.createObjectNode();
            n.put("nonce", B64.encodeToString(nonce));
            n.put("expires", clock.instant().plus(broker.nonces().ttl()).toString());
            return n;
        }
        if (root.equals("release") && p.length == 1 && method.equals("POST")) {
            limit("addr:" + peer);
            return release(readJson(x, "namespace", "secret", "version", "nonce", "evidence", "collateral", "kem",
                    "publicKey"), peer);
        }
        Principal who = authenticate(x);
        limit("token:" + who.tokenId());
        return switch (root) {
            case "namespaces" -> namespaces(method, p, x, who);
            case "tokens" -> tokens(method, p, x, who);
            case "secrets" -> secrets(method, p, x, who);
            case "policies" -> policies(method, p, x, who);
            case "audit" -> audit(method, p, x, who);
            case "proposals" -> proposals(method, p, who);
            default -> throw KbsException.notFound("no such endpoint " + rawPath);
        };
    }

    private void limit(String key) throws KbsException {
        if (!limiter.tryAcquire(key, System.nanoTime())) {
            throw KbsException.rateLimited("rate limit exceeded for " + (key.startsWith("token:") ? key : "this client"));
        }
    }

    private Principal authenticate(HttpsTransport.Exchange x) throws KbsException {
        String h = x.header("Authorization");
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw KbsException.unauthorized("missing Authorization: Bearer token");
        }
        return broker.store().authenticate(h.substring(7).strip());
    }

    // ---- handlers -----------------------------------------------------------------------------------------------

    private ObjectNode release(JsonNode j, String peer) throws KbsException {
        Integer version = j.hasNonNull("version") ? positiveInt(j, "version") : null;
        ReleaseRequest r = new ReleaseRequest(text(j, "namespace"), text(j, "secret"), version, b64(j, "nonce"),
                b64(j, "evidence"), j.hasNonNull("collateral") ? b64(j, "collateral") : null,
                HpkeSuite.parse(j.hasNonNull("kem") ? text(j, "kem") : null), b64(j, "publicKey"));
        ReleaseResponse rr = broker.release(r, peer);
        ObjectNode n = JSON.createObjectNode();
        n.put("namespace", rr.namespace());
        n.put("secret", rr.name());
        n.put("version", rr.version());
        n.put("kind", rr.kind().label());
        n.put("kem", rr.kem().name());
        n.put("enc", B64.encodeToString(rr.enc()));
        n.put("ciphertext", B64.encodeToString(rr.ciphertext()));
        return n;
    }

    private ObjectNode namespaces(String method, String[] p, HttpsTransport.Exchange x, Principal who) throws CloisterException,
            IOException {
        if (p.length == 1 && method.equals("GET")) {
            ObjectNode n = JSON.createObjectNode();
            ArrayNode a = n.putArray("namespaces");
            broker.namespaces(who).forEach(a::add);
            return n;
        }
        if (p.length == 3 && p[2].equals("rules") && method.equals("PUT")) {
            JsonNode j = readJson(x, "policyApprovals");
            if (!j.path("policyApprovals").canConvertToInt()) {
                throw KbsException.badRequest("policyApprovals must be an integer");
            }
            broker.setPolicyApprovals(who, p[1], j.get("policyApprovals").asInt());
            ObjectNode n = JSON.createObjectNode();
            n.put("namespace", p[1]);
            n.put("policyApprovals", j.get("policyApprovals").asInt());
            return n;
        }
        if (p.length == 1 && method.equals("POST")) {
            String name = text(readJson(x, "name"), "name");
            broker.createNamespace(who, name);
            ObjectNode n = JSON.createObjectNode();
            n.put("_status", 201);
            n.put("name", name);
            return n;
        }
        throw noRoute(method, p);
    }

    private ObjectNode tokens(String method, String[] p, HttpsTransport.Exchange x, Principal who) throws CloisterException,
            IOException {
        if (p.length == 1 && method.equals("POST")) {
            JsonNode j = readJson(x, "role", "namespace", "ttlSeconds");
            java.time.Duration ttl = null;
            if (j.has("ttlSeconds")) {
                if (!j.get("ttlSeconds").canConvertToLong() || !j.get("ttlSeconds").isIntegralNumber()) {
                    throw KbsException.badRequest("ttlSeconds must be an integer");
                }
                ttl = java.time.Duration.ofSeconds(j.get("ttlSeconds").asLong());
            }
            KbsStore.IssuedToken t = broker.createToken(who, Role.parse(text(j, "role")),
                    j.hasNonNull("namespace") ? text(j, "namespace") : null, ttl);
            ObjectNode n = JSON.createObjectNode();
            n.put("_status", 201);
            n.put("id", t.id());
            n.put("token", t.token());
            n.put("role", t.role().label());
            n.put("namespace", t.namespace());
            n.put("expires", t.expires() == null ? null : t.expires().toString());
            return n;
        }
        if (p.length == 1 && method.equals("GET")) {
            ObjectNode n = JSON.createObjectNode();
            n.set("tokens", JSON.valueToTree(broker.tokens(who)));
            return n;
        }
        if (p.length == 2 && method.equals("DELETE")) {
            broker.revokeToken(who, p[1]);
            ObjectNode n = JSON.createObjectNode();
            n.put("revoked", p[1]);
            return n;
        }
        throw noRoute(method, p);
    }

    private ObjectNode secrets(String method, String[] p, HttpsTransport.Exchange x, Principal who) throws CloisterException,
            IOException {
        if (p.length == 2 && method.equals("GET")) {
            ObjectNode n = JSON.createObjectNode();
            ArrayNode a = n.putArray("secrets");
            for (SecretInfo s : broker.list(who, p[1])) {
                a.add(info(s));
            }
            return n;
        }
        if ((p.length == 3 || p.length == 4 && p[3].equals("rotate")) && method.equals("POST")) {
            JsonNode j = readJson(x, "kind", "value");
            SecretKind kind = SecretKind.parse(text(j, "kind"));
            byte[] value = j.hasNonNull("value") ? b64(j, "value") : null;
            SecretInfo s = broker.storeSecret(who, p[1], p[2], kind, value, p.length == 4);
            ObjectNode n = info(s);
            n.put("_status", 201);
            return n;
        }
        if (p.length == 6 && p[3].equals("versions") && p[5].equals("retire") && method.equals("POST")) {
            int v = parseVersion(p[4]);
            broker.retire(who, p[1], p[2], v);
            ObjectNode n = JSON.createObjectNode();
            n.put("namespace", p[1]);
            n.put("name", p[2]);
            n.put("version", v);
            n.put("active", false);
            return n;
        }
        throw noRoute(method, p);
    }

    private ObjectNode policies(String method, String[] p, HttpsTransport.Exchange x, Principal who) throws CloisterException,
            IOException {
        if (p.length != 3) {
            throw noRoute(method, p);
        }
        ObjectNode n = JSON.createObjectNode();
        n.put("namespace", p[1]);
        n.put("secret", p[2]);
        switch (method) {
            case "PUT" -> {
                PolicyProposal pp = broker.setPolicy(who, p[1], p[2], text(readJson(x, "policy"), "policy"));
                proposalJson(n, pp);
                if (!pp.applied()) {
                    n.put("_status", 202);
                }
            }
            case "GET" -> n.put("policy", broker.policy(who, p[1], p[2]));
            default -> throw noRoute(method, p);
        }
        return n;
    }

    private ObjectNode audit(String method, String[] p, HttpsTransport.Exchange x, Principal who) throws CloisterException {
        if (p.length == 2 && method.equals("GET") && p[1].equals("checkpoint")) {
            ObjectNode n = JSON.createObjectNode();
            n.put("checkpoint", broker.store().checkpoint());
            n.put("key", broker.store().logVerifierKey());
            return n;
        }
        if (p.length == 2 && method.equals("GET") && p[1].equals("proof")) {
            Map<String, String> q = query(x);
            long seq = parseLong(required(q, "seq"), "seq");
            long size = parseLong(required(q, "size"), "size");
            var proof = broker.auditInclusion(who, seq, size);
            ObjectNode n = JSON.createObjectNode();
            n.set("entry", proof.getKey().toJson());
            n.put("size", size);
            ArrayNode a = n.putArray("proof");
            proof.getValue().forEach(h -> a.add(HexFormat.of().formatHex(h)));
            return n;
        }
        if (p.length == 2 && method.equals("GET") && p[1].equals("consistency")) {
            Map<String, String> q = query(x);
            long from = parseLong(required(q, "from"), "from");
            long to = parseLong(required(q, "to"), "to");
            ObjectNode n = JSON.createObjectNode();
            n.put("from", from);
            n.put("to", to);
            ArrayNode a = n.putArray("proof");
            broker.store().consistencyProof(from, to).forEach(h -> a.add(HexFormat.of().formatHex(h)));
            return n;
        }
        if (p.length == 2 && p[1].equals("verify") && method.equals("GET")) {
            AuditReport r = broker.verifyAudit(who);
            ObjectNode n = JSON.createObjectNode();
            n.put("entries", r.entries());
            n.put("intact", r.intact());
            n.set("problems", JSON.valueToTree(r.problems()));
            return n;
        }
        if (p.length == 1 && method.equals("GET")) {
            Map<String, String> q = query(x);
            long after = q.containsKey("after") ? parseLong(q.get("after"), "after") : 0;
            if (after < 0) {
                throw KbsException.badRequest("after must be 0 or more, got " + after);
            }
            long asked = q.containsKey("limit") ? parseLong(q.get("limit"), "limit") : 100;
            if (asked < 1) {
                // SQLite reads a negative LIMIT as "no limit", PostgreSQL refuses it: neither may reach the database.
                throw KbsException.badRequest("limit must be 1 or more, got " + asked);
            }
            int limit = (int) Math.min(MAX_AUDIT_PAGE, asked);
            ObjectNode n = JSON.createObjectNode();
            ArrayNode a = n.putArray("entries");
            for (AuditEntry e : broker.audit(who, after, limit)) {
                a.add(e.toJson());
            }
            return n;
        }
        throw noRoute(method, p);
    }

    private ObjectNode proposals(String method, String[] p, Principal who) throws CloisterException {
        if (p.length == 2 && method.equals("GET")) {
            ObjectNode n = JSON.createObjectNode();
            ArrayNode a = n.putArray("proposals");
            for (PolicyProposal pp : broker.proposals(who, p[1])) {
                proposalJson(a.addObject(), pp);
            }
            return n;
        }
        if (p.length == 4 && p[3].equals("approve") && method.equals("POST")) {
            return proposalJson(JSON.createObjectNode(), broker.approvePolicy(who, p[1], p[2]));
        }
        throw noRoute(method, p);
    }

    /** {@code policy}, {@code state} and, for a change that waits, its proposal id and approvals; 202 if it waits. */
    private static ObjectNode proposalJson(ObjectNode n, PolicyProposal pp) {
        n.put("policy", pp.text());
        n.put("state", pp.state());
        if (!pp.id().equals("-")) {
            n.put("proposal", pp.id());
            n.put("namespace", pp.namespace());
            n.put("secret", pp.name());
            n.set("approvers", JSON.valueToTree(pp.approvers()));
            n.put("required", pp.required());
        }
        return n;
    }

    private static ObjectNode info(SecretInfo s) {
        ObjectNode o = JSON.createObjectNode();
        o.put("namespace", s.namespace());
        o.put("name", s.name());
        o.put("version", s.version());
        o.put("kind", s.kind().label());
        o.put("active", s.active());
        o.put("created", s.created().toString());
        if (s.retired() != null) {
            o.put("retired", s.retired().toString());
        }
        return o;
    }

    private static KbsException noRoute(String method, String[] p) {
        return KbsException.notFound("no such endpoint " + method + " /v1/" + String.join("/", p));
    }
}
