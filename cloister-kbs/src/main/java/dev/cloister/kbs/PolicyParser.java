package dev.cloister.kbs;

import dev.cloister.attestation.Policy;
import dev.cloister.core.CloisterException;

/**
 * Turns policy text into a {@link Policy}. In production this is {@code Policies::parse} of the attestation
 * library; the seam keeps the broker independent of which parser version is linked.
 */
@FunctionalInterface
public interface PolicyParser {
    /**
     * Parses policy text.
     *
     * @throws CloisterException BAD_INPUT naming the bad token
     */
    Policy parse(String text) throws CloisterException;
}
