package dev.cloister.runtime.job;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.util.List;

/**
 * What jobs need from the key broker: the owner stores a job key under a policy; the worker relays an enclave's
 * release request (it cannot read the sealed reply); the owner reads back who received the key.
 */
public interface Broker {
    /**
     * Stores a new job key that the broker will release only to evidence satisfying {@code policy}.
     *
     * @throws CloisterException BAD_INPUT for a bad policy, DENIED when not allowed, ENVIRONMENT when unreachable
     */
    void createJobKey(String secret, byte[] key, String policy) throws CloisterException, IOException;

    /**
     * Replaces the policy of a secret created here (by its {@link #qualify qualified} name), for example to bind a
     * pipeline step's keys to the record of the attempt about to run ({@code JOB:<hash>}).
     *
     * @throws CloisterException BAD_INPUT for a bad policy, DENIED when not allowed (or when the namespace needs
     *     approvals, naming the waiting proposal), ENVIRONMENT when unreachable
     */
    void setPolicy(String qualifiedSecret, String policy) throws CloisterException, IOException;

    /** The full name an enclave asks for, e.g. {@code NAMESPACE/NAME}, of a secret created here. */
    String qualify(String secret);

    /** A fresh single-use nonce, base64, for one release. */
    String nonce() throws CloisterException, IOException;

    /**
     * Forwards an enclave's release request unchanged and returns the broker's reply (the sealed key).
     *
     * @throws CloisterException DENIED with the broker's explanation when the evidence or policy says no
     */
    JsonNode release(JsonNode request) throws CloisterException, IOException;

    /**
     * The audit log's lines about a secret (by its {@link #qualify qualified} name), oldest first: each release or
     * denial with the measurement.
     */
    List<String> history(String qualifiedSecret) throws CloisterException, IOException;
}
