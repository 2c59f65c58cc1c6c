package dev.cloister.kbs;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.EvidenceVerifier;
import dev.cloister.attestation.Policy;
import dev.cloister.attestation.Verdict;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.core.CloisterException;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The broker's decisions, independent of transport: who may change what, and whether evidence earns a secret.
 * Every release and every denial is audited; a release is only returned after its audit entry has committed.
 */
public final class KeyBroker {
    private final KbsStore store;
    private final EvidenceVerifier verifier;
    private final PolicyParser parser;
    private final NonceStore nonces;
    private final Clock clock;
    private final Map<String, Policy> policyCache = new ConcurrentHashMap<>();

    public KeyBroker(KbsStore store, EvidenceVerifier verifier, PolicyParser parser, NonceStore nonces) {
        this.store = store;
        this.verifier = verifier;
        this.parser = parser;
        this.nonces = nonces;
        this.clock = store.clock();
    }

    private final java.util.concurrent.ConcurrentHashMap<String, java.util.concurrent.atomic.LongAdder> decisions =
            new java.util.concurrent.ConcurrentHashMap<>();

    /** Records a release decision in the audit log and counts it for {@link #releaseDecisions()}. */
    private AuditEntry decide(String actor, String action, String ns, String subject, String outcome, String detail)
            throws KbsException {
        AuditEntry e = store.record(actor, action, ns, subject, outcome, detail);
        decisions.computeIfAbsent(action + " " + outcome, k -> new java.util.concurrent.atomic.LongAdder())
                .increment();
        return e;
    }

    /**
     * Release decisions this broker has recorded since it started, by audit action and outcome ({@code "release ok"},
     * {@code "release.gramine denied"}, ...), for metrics.
     */
    public Map<String, Long> releaseDecisions() {
        Map<String, Long> out = new java.util.TreeMap<>();
        decisions.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    /** The store behind this broker. */
    public KbsStore store() {
        return store;
    }

    /** The nonce store. */
    public NonceStore nonces() {
        return nonces;
    }

    // ---- administration -----------------------------------------------------------------------------------------

    private static void requireAdmin(Principal p) throws KbsException {
        if (p.role() != Role.ADMIN) {
            throw KbsException.denied("this needs an admin token");
        }
    }

    /** Hides other tenants' namespaces: answers as if they did not exist. */
    private static void requireRead(Principal p, String ns) throws KbsException {
        if (!p.canRead(ns)) {
            throw KbsException.notFound("no namespace " + ns);
        }
    }

    private static void requireWrite(Principal p, String ns) throws KbsException {
        requireRead(p, ns);
        if (!p.canWrite(ns)) {
            throw KbsException.denied("role " + p.role().label() + " cannot change namespace " + ns);
        }
    }

    /** Creates a namespace (admin). */
    public void createNamespace(Principal p, String ns) throws KbsException {
        requireAdmin(p);
        store.createNamespace(p.actor(), ns);
    }

    /** Lists the namespaces this principal can see. */
    public List<String> namespaces(Principal p) throws KbsException {
        return store.namespaces().stream().filter(p::canRead).toList();
    }

    /** Issues a token (admin). */
    public KbsStore.IssuedToken createToken(Principal p, Role role, String ns) throws KbsException {
        return createToken(p, role, ns, null);
    }

    /** Issues a token valid for {@code ttl} (null: {@link KbsStore#DEFAULT_TOKEN_TTL}) (admin). */
    public KbsStore.IssuedToken createToken(Principal p, Role role, String ns, java.time.Duration ttl)
            throws KbsException {
        requireAdmin(p);
        return store.createToken(p.actor(), role, ns, ttl);
    }

    /** Revokes a token (admin). */
    public void revokeToken(Principal p, String id) throws KbsException {
        requireAdmin(p);
        store.revokeToken(p.actor(), id);
    }

    /** Token metadata (admin). */
    public List<Map<String, Object>> tokens(Principal p) throws KbsException {
        requireAdmin(p);
        return store.listTokens();
    }

    /** Uploads ({@code value} given) or generates a new secret, or with {@code rotate} a new version. */
    public SecretInfo storeSecret(Principal p, String ns, String name, SecretKind kind, byte[] value, boolean rotate)
            throws KbsException {
        requireWrite(p, ns);
        return store.storeSecret(p.actor(), ns, name, kind, value, rotate);
    }

    /** Retires a version. */
    public void retire(Principal p, String ns, String name, int version) throws KbsException {
        requireWrite(p, ns);
        store.retire(p.actor(), ns, name, version);
    }

    /** Secret metadata of a namespace. */
    public List<SecretInfo> list(Principal p, String ns) throws KbsException {
        requireRead(p, ns);
        return store.list(ns);
    }

    /** Parses and stores a policy; the canonical text is stored so that {@code show} prints what is enforced. */
    public PolicyProposal setPolicy(Principal p, String ns, String name, String text) throws CloisterException {
        requireWrite(p, ns);
        if (text == null || text.isBlank() || text.length() > 64 * 1024) {
            throw KbsException.badRequest("policy text must be 1..65536 characters");
        }
        Policy policy = parser.parse(text);
        return store.proposePolicy(p.actor(), p.tokenId(), ns, name, policy.toText());
    }

    /** Adds this token's approval to a pending policy change (see {@link KbsStore#approvePolicy}). */
    public PolicyProposal approvePolicy(Principal p, String ns, String id) throws KbsException {
        requireWrite(p, ns);
        return store.approvePolicy(p.actor(), p.tokenId(), ns, id);
    }

    /** The pending policy changes of a namespace. */
    public List<PolicyProposal> proposals(Principal p, String ns) throws KbsException {
        requireRead(p, ns);
        return store.proposals(ns);
    }

    /** Sets how many approvals a policy change in {@code ns} needs (admin only). */
    public void setPolicyApprovals(Principal p, String ns, int approvals) throws KbsException {
        requireAdmin(p);
        store.setPolicyApprovals(p.actor(), ns, approvals);
    }

    /** The policy text of a secret. */
    public String policy(Principal p, String ns, String name) throws KbsException {
        requireRead(p, ns);
        String t = store.policy(ns, name);
        if (t == null) {
            throw KbsException.notFound("no policy for " + ns + "/" + name);
        }
        return t;
    }

    /** Audit entries visible to this principal. */
    public List<AuditEntry> audit(Principal p, long after, int limit) throws KbsException {
        if (p.global()) {
            return store.audit(null, after, limit);
        }
        return store.audit(p.namespace(), after, limit);
    }

    /** Verifies the audit chain (admin or global auditor). */
    public AuditReport verifyAudit(Principal p) throws KbsException {
        if (!p.global()) {
            throw KbsException.denied("verifying the whole audit chain needs an admin or global auditor token");
        }
        return store.verifyAudit();
    }

    /**
     * Audit entry {@code seq} with its inclusion proof in the log of {@code size} entries, if this principal may
     * read the entry (the same entries {@link #audit} shows it); otherwise "not found", as for a missing entry.
     */
    public Map.Entry<AuditEntry, List<byte[]>> auditInclusion(Principal p, long seq, long size) throws KbsException {
        AuditEntry e = seq >= 1 ? store.auditEntry(seq) : null;
        boolean visible = e != null && (p.global()
                || e.namespace() != null && e.namespace().equals(p.namespace()));
        if (!visible) {
            throw KbsException.notFound("no audit entry " + seq + " visible to this token");
        }
        return Map.entry(e, store.inclusionProof(seq, size));
    }

    // ---- release ------------------------------------------------------------------------------------------------

    /** Issues a release nonce. */
    public byte[] nonce() throws KbsException {
        return nonces.issue(clock.instant());
    }

    /**
     * Runs the release protocol: nonce, evidence, key binding, policy; then seals the secret to the ephemeral key.
     *
     * @param peer who asked (an address), for the audit log
     * @throws KbsException 400 malformed, 403 denied (nonce or evidence with the explanation; anything about the
     *     secret as {@link #RELEASE_DENIED}), 429 replay window share full, 503 database
     */
    public ReleaseResponse release(ReleaseRequest r, String peer) throws KbsException {
        // Order matters: what depends only on the request (its form, the nonce, the evidence's signatures) may be
        // explained to the caller; what depends on the secret (existence, version, policy) gets RELEASE_DENIED.
        Instant now = clock.instant();
        VerifiedEvidence ev;
        String ns;
        String name;
        // Until the evidence has verified, the caller is anyone at all: refusals are counted for the metrics, not
        // written to the audit log (one anonymous client could otherwise append a permanent, fsync'd entry per
        // request, and the log is about decisions on attested workloads).
        try {
            ns = KbsStore.checkNamespace(r.namespace());
            name = KbsStore.checkSecretName(r.name());
            if (r.evidence() == null || r.evidence().length == 0) {
                throw KbsException.badRequest("evidence is missing");
            }
            if (r.publicKey() == null) {
                throw KbsException.badRequest("publicKey is missing");
            }
        } catch (KbsException e) {
            throw refused("malformed", e);
        }
        try {
            nonces.check(r.nonce(), now);
        } catch (KbsException e) {
            throw refused(e.httpStatus() == 400 ? "malformed" : "nonce", e);
        }
        try {
            ev = verify(r.evidence(), r.collateral(), now);
        } catch (KbsException e) {
            throw refused(e.httpStatus() == 400 ? "malformed" : "evidence", e);
        }
        String subject = name + (r.version() == null ? "" : "@" + r.version());
        String actor = "workload:" + peer;
        KbsStore.SecretValue secret;
        try {
            if (!ReleaseBinding.matches(ev.reportData(), r.nonce(), r.publicKey())) {
                throw KbsException.denied("report data is not SHA-256(nonce || publicKey) followed by a record "
                        + "hash or zeros: the evidence was made for another nonce or key");
            }
            // Used up only now: entering the replay window takes evidence that verified and is bound to this nonce.
            nonces.consume(r.nonce(), now, peer);
            KbsStore.Releasable rel = store.readForRelease(ns, name, r.version());
            secret = rel.secret();
            appraise(ns, name, rel.policy(), ev, now);
        } catch (KbsException e) {
            if (e.httpStatus() == 503) {
                throw e;
            }
            if (e.httpStatus() == 429) {
                throw refused("busy", e);
            }
            decide(actor, "release", ns, subject, "denied", e.getMessage());
            // The workload learns nothing about the secret: not whether it exists, nor what its policy accepts.
            throw KbsException.denied(RELEASE_DENIED);
        }
        byte[][] sealed = r.kem().seal(r.publicKey(),
                HpkeSuite.aad(ns, name, secret.info().version()), secret.value());
        // The audit entry says who got the key: owners read it back to learn which measurement ran their job.
        decide(actor, "release", ns, name + "@" + secret.info().version(), "ok",
                "kem " + r.kem().name() + "; " + describe(ev));
        return new ReleaseResponse(ns, name, secret.info().version(), secret.info().kind(), r.kem(), sealed[0],
                sealed[1]);
    }

    /**
     * The one answer a workload gets when its verified evidence does not earn the secret, whatever the reason (no
     * such namespace, secret or version, no policy, policy denied, evidence bound to another nonce or key, nonce
     * replayed): the reason is in the owner's audit log, never in the answer.
     */
    public static final String RELEASE_DENIED = "release denied: no such secret, or the evidence is not bound to "
            + "this request or not accepted by the secret's policy (the owner's audit log has the reason)";

    private final Map<String, java.util.concurrent.atomic.LongAdder> refusals = new ConcurrentHashMap<>();

    /** Counts a refusal that is not audited (see {@link #release}) under a fixed reason, and hands it back. */
    private KbsException refused(String reason, KbsException e) {
        refusals.computeIfAbsent(reason, k -> new java.util.concurrent.atomic.LongAdder()).increment();
        return e;
    }

    /**
     * Release requests refused before any attested workload was involved, by reason ({@code malformed},
     * {@code nonce}, {@code evidence}, {@code busy}, {@code ratls}), since start; these are not in the audit log.
     */
    public Map<String, Long> unauditedRefusals() {
        Map<String, Long> out = new java.util.TreeMap<>();
        refusals.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    /**
     * The Gramine secret-provisioning decision: evidence already verified from the RA-TLS certificate; the
     * secret's policy decides. Returns the newest active value.
     */
    public byte[] provision(String ns, String name, VerifiedEvidence ev, String peer) throws KbsException {
        Instant now = clock.instant();
        String actor = "gramine:" + peer;
        try {
            KbsStore.SecretValue secret = store.read(ns, name, null);
            appraise(ns, name, ev, now);
            decide(actor, "release.gramine", ns, name + "@" + secret.info().version(), "ok", "ra-tls");
            return secret.value();
        } catch (KbsException e) {
            if (e.httpStatus() != 503) {
                decide(actor, "release.gramine", ns, name, "denied", e.getMessage());
            }
            throw e;
        }
    }

    /**
     * Counts a denial that happened before the broker saw a request (an RA-TLS certificate rejected, a malformed
     * provisioning request). Not audited: nothing attested was involved, and anyone can cause one.
     */
    public void recordDenial(String actor, String action, String ns, String name, String why) throws KbsException {
        refused("ratls", null);
    }

    private VerifiedEvidence verify(byte[] evidence, byte[] collateral, Instant now) throws KbsException {
        try {
            return verifier.verify(evidence, collateral, now);
        } catch (EvidenceException e) {
            if (e.kind() == CloisterException.Kind.BAD_INPUT) {
                throw KbsException.badRequest("malformed evidence: " + e.getMessage());
            }
            throw KbsException.denied("evidence rejected: " + e.getMessage());
        }
    }

    private void appraise(String ns, String name, VerifiedEvidence ev, Instant now) throws KbsException {
        appraise(ns, name, store.policy(ns, name), ev, now);
    }

    private void appraise(String ns, String name, String text, VerifiedEvidence ev, Instant now)
            throws KbsException {
        if (text == null) {
            throw KbsException.denied("no policy is set for " + ns + "/" + name + "; nothing is released without one");
        }
        Policy policy = parsedPolicy(withDefaults(text, ev));
        Verdict v = policy.appraise(ev, now);
        if (!v.accepted()) {
            throw KbsException.denied("policy denied: " + v.explanation());
        }
    }

    /**
     * How old DCAP collateral (its newest TCB Info, QE Identity or CRL) may be when a policy says nothing
     * ({@code AGE:}): Intel's PCS re-issues collateral daily and a PCCS refreshes it daily, so a week-old collateral
     * means a workload (or its host) holds back newer statements, such as a TCB recovery. Not applied to SEV-SNP,
     * whose collateral (VCEK certificates) carries no issue date of this kind.
     */
    public static final java.time.Duration DEFAULT_MAX_COLLATERAL_AGE = java.time.Duration.ofDays(7);

    /** The policy text with the broker's defaults for what it leaves unsaid. */
    static String withDefaults(String text, VerifiedEvidence ev) {
        if (ev.teeType() == dev.cloister.attestation.TeeType.SEV_SNP
                || java.util.Arrays.stream(text.split("\\s+")).anyMatch(t -> t.startsWith("AGE:"))) {
            return text;
        }
        return text + " AGE:" + DEFAULT_MAX_COLLATERAL_AGE.toDays() + "d";
    }

    private Policy parsedPolicy(String text) throws KbsException {
        Policy p = policyCache.get(text);
        if (p == null) {
            try {
                p = parser.parse(text);
            } catch (CloisterException e) {
                throw KbsException.denied("stored policy does not parse: " + e.getMessage());
            }
            if (policyCache.size() > 10_000) {
                policyCache.clear();
            }
            policyCache.put(text, p);
        }
        return p;
    }

    /** Appraises evidence against policy text without any secret, for {@code cloister kbs policy test}. */
    public static Verdict test(EvidenceVerifier verifier, PolicyParser parser, String policyText, byte[] evidence,
            byte[] collateral, Instant at) throws CloisterException {
        Policy policy = parser.parse(policyText);
        VerifiedEvidence ev = verifier.verify(evidence, collateral, at);
        return policy.appraise(ev, at);
    }

    /** One line naming the evidence's TEE, identity, TCB status and whether it was simulated, for the audit log. */
    static String describe(VerifiedEvidence ev) {
        String id = switch (ev.measurements()) {
            case dev.cloister.attestation.SgxMeasurements m -> "mrenclave " + java.util.HexFormat.of().formatHex(m.mrEnclave())
                    + " mrsigner " + java.util.HexFormat.of().formatHex(m.mrSigner()) + " isvsvn " + m.isvSvn();
            case dev.cloister.attestation.TdxMeasurements m -> "mrtd " + java.util.HexFormat.of().formatHex(m.mrTd());
            case dev.cloister.attestation.SnpMeasurements m -> "measurement "
                    + java.util.HexFormat.of().formatHex(m.measurement());
        };
        // The job record the enclave bound into its evidence, so the owner's audit log says what ran, not only which
        // program.
        byte[] record = ev.reportData() != null && ev.reportData().length == 64 ? ReleaseBinding.recordHash(ev.reportData()) : null;
        return ev.teeType() + " " + id + " tcb " + ev.tcbStatus().intelName()
                + (record == null ? "" : " record " + java.util.HexFormat.of().formatHex(record))
                + (ev.simulated() ? " SIMULATED (" + ev.rootUsed() + ")" : " root " + ev.rootUsed());
    }
}
