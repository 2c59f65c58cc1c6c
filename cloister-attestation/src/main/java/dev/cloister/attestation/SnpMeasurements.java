package dev.cloister.attestation;

/**
 * The identity of an SEV-SNP guest from its attestation report.
 *
 * @param measurement 48-byte launch measurement
 * @param hostData 32-byte HOST_DATA
 * @param policy the guest POLICY field
 * @param reportedTcb the REPORTED_TCB field (bootloader, TEE, SNP, microcode SVNs packed as AMD defines)
 * @param vmpl the VMPL the report was requested from
 * @param debug the policy's DEBUG bit
 */
public record SnpMeasurements(byte[] measurement, byte[] hostData, long policy, long reportedTcb, int vmpl,
        boolean debug) implements Measurements {
    public SnpMeasurements {
        measurement = Bytes.copyOfLength(measurement, 48, "measurement");
        hostData = Bytes.copyOfLength(hostData, 32, "hostData");
    }

    @Override public byte[] measurement() { return measurement.clone(); }
    @Override public byte[] hostData() { return hostData.clone(); }

    @Override
    public TeeType teeType() {
        return TeeType.SEV_SNP;
    }
}
