package dev.cloister.runtime.enclave;

import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.core.CloisterException;
import dev.cloister.pf.PfKey;

/**
 * How the launcher obtains the job's encrypted-files key: by producing evidence for the measured program, bound
 * to the broker's nonce and a fresh ephemeral key, and opening the broker's sealed reply. The key never exists
 * outside the enclave.
 */
public interface KeyProvisioner {
    /**
     * Obtains the key the plan names.
     *
     * @param identity what the launcher measured itself, which the evidence states
     * @throws CloisterException DENIED when the broker refuses (its explanation is in the message)
     */
    PfKey obtain(EnclavePlan.KeyRequest request, SgxMeasurements identity, HostChannel host) throws CloisterException;
}
