package dev.cloister.runtime.enclave;

import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.core.CloisterException;
import dev.cloister.pf.PfKey;

/**
 * How the launcher obtains the job's encrypted-files key: by producing evidence for the measured program, bound
 * to the broker's nonce, a fresh ephemeral key and the hash of the job record it runs (report data
 * {@code ReleaseBinding.reportData(nonce, key, recordHash)}), and opening the broker's sealed reply. The key never
 * exists outside the enclave.
 */
public interface KeyProvisioner {
    /**
     * Obtains the key the plan names.
     *
     * @param identity what the launcher measured itself, which the evidence states
     * @param recordHash the SHA-256 of the job record the launcher runs ({@code JobRecord.hash()}), bound into the
     *     second half of the evidence's report data
     * @throws CloisterException DENIED when the broker refuses (its explanation is in the message)
     */
    PfKey obtain(EnclavePlan.KeyRequest request, SgxMeasurements identity, byte[] recordHash, HostChannel host)
            throws CloisterException;
}
