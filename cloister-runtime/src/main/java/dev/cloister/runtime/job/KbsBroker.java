package dev.cloister.runtime.job;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.core.CloisterException;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.SecretKind;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link Broker} over the Cloister key broker's HTTPS API. Job keys live in the owner's namespace; the secret
 * names jobs use are {@code NAMESPACE/job-ID}.
 */
public final class KbsBroker implements Broker {
    private final KbsClient client;
    private final String namespace;

    /**
     * @param client a client with the owner's token (for submit and history) or without one (for workers, which
     *     only fetch nonces and relay releases)
     * @param namespace the owner's namespace
     */
    public KbsBroker(KbsClient client, String namespace) {
        this.client = client;
        this.namespace = namespace;
    }

    @Override
    public String qualify(String secret) {
        return namespace + "/" + secret;
    }

    @Override
    public void createJobKey(String secret, byte[] key, String policy) throws CloisterException {
        // The broker releases nothing that has no policy, so the moment between the two calls exposes nothing.
        client.storeSecret(namespace, secret, SecretKind.PF_KEY, key, false);
        applyPolicy(namespace, secret, policy);
    }

    @Override
    public void setPolicy(String qualifiedSecret, String policy) throws CloisterException {
        int slash = qualifiedSecret.indexOf('/');
        if (slash <= 0) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT, "secret '" + qualifiedSecret
                    + "' is not NAMESPACE/NAME");
        }
        applyPolicy(qualifiedSecret.substring(0, slash), qualifiedSecret.substring(slash + 1), policy);
    }

    private void applyPolicy(String namespace, String secret, String policy) throws CloisterException {
        JsonNode set = client.proposePolicy(namespace, secret, policy);
        if (!"applied".equals(set.path("state").asText())) {
            throw new CloisterException(CloisterException.Kind.DENIED, "namespace " + namespace + " requires "
                    + set.path("required").asInt() + " approvals for policy changes: the job key's policy waits as "
                    + "proposal " + set.path("proposal").asText() + " (approve with 'cloister kbs policy approve "
                    + namespace + " " + set.path("proposal").asText() + "')");
        }
    }

    @Override
    public String nonce() throws CloisterException {
        return client.nonce().get("nonce").asText();
    }

    @Override
    public JsonNode release(JsonNode request) throws CloisterException {
        return client.call("POST", "/v1/release", request);
    }

    @Override
    public List<String> history(String qualifiedSecret) throws CloisterException {
        String secret = qualifiedSecret.substring(qualifiedSecret.indexOf('/') + 1);
        List<String> out = new ArrayList<>();
        long after = 0;
        while (true) {
            List<JsonNode> page = client.audit(after, 500);
            for (JsonNode e : page) {
                after = Math.max(after, e.path("seq").asLong());
                if (concerns(secret, e)) {
                    out.add(e.path("at").asText() + " " + e.path("action").asText() + " " + e.path("outcome").asText()
                            + " " + e.path("detail").asText());
                }
            }
            if (page.size() < 500) {
                return out;
            }
        }
    }

    /** Whether an audit entry (the API's JSON form) is about {@code secret} (any version) in this namespace. */
    private boolean concerns(String secret, JsonNode e) {
        return namespace.equals(e.path("namespace").asText()) && (secret.equals(e.path("subject").asText())
                || e.path("subject").asText().startsWith(secret + "@"));
    }

    /**
     * The audit entries about a job key, each proven to be in the broker's log as of checkpoint {@code cp} (which
     * the caller verified with the log key it pinned).
     */
    public List<dev.cloister.kbs.AuditEntry> provenHistory(String qualifiedSecret,
            dev.cloister.kbs.AuditLogVerifier log, dev.cloister.kbs.tlog.Checkpoint cp)
            throws CloisterException, dev.cloister.kbs.tlog.ProofException {
        String secret = qualifiedSecret.substring(qualifiedSecret.indexOf('/') + 1);
        return log.proveMatching(client, cp, e -> concerns(secret, e));
    }
}
