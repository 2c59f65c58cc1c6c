package dev.cloister.attestation.snp;

import dev.cloister.attestation.EvidenceException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * An AMD SEV-SNP attestation report (ATTESTATION_REPORT of the SNP firmware ABI), version 2 and later: 1184 bytes,
 * little-endian, the ECDSA P-384 signature over bytes 0x000-0x29F at 0x2A0. Every byte of the report is held by a
 * component, so {@link #toBytes()} gives back exactly what {@link #parse(byte[])} read.
 *
 * @param version report version (2, 3, 5 seen in the wild)
 * @param guestSvn guest SVN
 * @param policy guest policy (bit 16 SMT, 17 reserved-one, 18 migrate MA, 19 DEBUG, 20 single socket)
 * @param familyId 16-byte family id from the ID block
 * @param imageId 16-byte image id from the ID block
 * @param vmpl VMPL the report was requested from
 * @param signatureAlgo 1 = ECDSA P-384 with SHA-384 (the only value accepted)
 * @param currentTcb current TCB_VERSION
 * @param platformInfo PLATFORM_INFO bits
 * @param flags bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 2-4 SIGNING_KEY (0 VCEK, 1 VLEK, 7 none)
 * @param reserved04c 4 reserved bytes at 0x04C, kept as read
 * @param reportData 64 bytes the guest supplied
 * @param measurement 48-byte launch measurement
 * @param hostData 32-byte HOST_DATA
 * @param idKeyDigest 48-byte SHA-384 of the ID key
 * @param authorKeyDigest 48-byte SHA-384 of the author key
 * @param reportId 32-byte report id
 * @param reportIdMa 32-byte report id of the migration agent
 * @param reportedTcb REPORTED_TCB, the TCB the VCEK was derived for
 * @param cpuid 24 bytes at 0x188: CPUID family, model, stepping (v3 and later), then reserved
 * @param chipId 64-byte CHIP_ID (zero when MASK_CHIP_ID is set)
 * @param committedTcb COMMITTED_TCB
 * @param firmwareVersions 8 bytes at 0x1E8: current build, minor, major, reserved, committed build, minor, major,
 *     reserved
 * @param launchTcb LAUNCH_TCB
 * @param tail 168 bytes at 0x1F8 up to the signature (v5 puts the launch and current mitigation vectors here)
 * @param signatureR 72-byte little-endian r
 * @param signatureS 72-byte little-endian s
 */
public record SnpReport(int version, int guestSvn, long policy, byte[] familyId, byte[] imageId, int vmpl,
        int signatureAlgo, long currentTcb, long platformInfo, int flags, int reserved04c, byte[] reportData,
        byte[] measurement, byte[] hostData, byte[] idKeyDigest, byte[] authorKeyDigest, byte[] reportId,
        byte[] reportIdMa, long reportedTcb, byte[] cpuid, byte[] chipId, long committedTcb, byte[] firmwareVersions,
        long launchTcb, byte[] tail, byte[] signatureR, byte[] signatureS) {

    /** Size of every report version this class reads. */
    public static final int SIZE = 1184;
    /** The signature covers bytes 0 to this offset (exclusive). */
    public static final int SIGNED_LENGTH = 0x2A0;
    /** Guest policy bit 19: the hypervisor may debug the guest. */
    public static final long POLICY_DEBUG = 1L << 19;
    /** SIGNING_KEY value for a VCEK-signed report. */
    public static final int SIGNING_KEY_VCEK = 0;
    /** SIGNING_KEY value for a VLEK-signed report. */
    public static final int SIGNING_KEY_VLEK = 1;

    public SnpReport {
        familyId = len(familyId, 16, "familyId");
        imageId = len(imageId, 16, "imageId");
        reportData = len(reportData, 64, "reportData");
        measurement = len(measurement, 48, "measurement");
        hostData = len(hostData, 32, "hostData");
        idKeyDigest = len(idKeyDigest, 48, "idKeyDigest");
        authorKeyDigest = len(authorKeyDigest, 48, "authorKeyDigest");
        reportId = len(reportId, 32, "reportId");
        reportIdMa = len(reportIdMa, 32, "reportIdMa");
        cpuid = len(cpuid, 24, "cpuid");
        chipId = len(chipId, 64, "chipId");
        firmwareVersions = len(firmwareVersions, 8, "firmwareVersions");
        tail = len(tail, 0x2A0 - 0x1F8, "tail");
        signatureR = len(signatureR, 72, "signatureR");
        signatureS = len(signatureS, 72, "signatureS");
    }

    private static byte[] len(byte[] b, int n, String field) {
        if (b == null || b.length != n) {
            throw new IllegalArgumentException(field + " must be " + n + " bytes");
        }
        return b.clone();
    }

    /**
     * Reads a report.
     *
     * @throws EvidenceException {@code BAD_INPUT} when the size, version, signature algorithm or the reserved
     *     signature area is wrong; the message names the field and value
     */
    public static SnpReport parse(byte[] b) throws EvidenceException {
        if (b == null || b.length != SIZE) {
            throw EvidenceException.malformed("SEV-SNP report must be " + SIZE + " bytes, got "
                    + (b == null ? 0 : b.length));
        }
        ByteBuffer in = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int version = in.getInt(0x000);
        if (version < 2) {
            throw EvidenceException.malformed("SEV-SNP report version " + Integer.toUnsignedString(version)
                    + " is not supported (2 and later)");
        }
        int sigAlgo = in.getInt(0x034);
        if (sigAlgo != 1) {
            throw EvidenceException.malformed("SEV-SNP report signature algorithm " + Integer.toUnsignedString(sigAlgo)
                    + " is not supported (1 = ECDSA P-384/SHA-384)");
        }
        for (int i = 0x2A0 + 144; i < SIZE; i++) {
            if (b[i] != 0) {
                throw EvidenceException.malformed(String.format(
                        "SEV-SNP report byte 0x%03x in the reserved signature area is 0x%02x, must be zero", i, b[i]));
            }
        }
        return new SnpReport(version, in.getInt(0x004), in.getLong(0x008), slice(b, 0x010, 16), slice(b, 0x020, 16),
                in.getInt(0x030), sigAlgo, in.getLong(0x038), in.getLong(0x040), in.getInt(0x048), in.getInt(0x04C),
                slice(b, 0x050, 64), slice(b, 0x090, 48), slice(b, 0x0C0, 32), slice(b, 0x0E0, 48),
                slice(b, 0x110, 48), slice(b, 0x140, 32), slice(b, 0x160, 32), in.getLong(0x180), slice(b, 0x188, 24),
                slice(b, 0x1A0, 64), in.getLong(0x1E0), slice(b, 0x1E8, 8), in.getLong(0x1F0),
                slice(b, 0x1F8, 0x2A0 - 0x1F8), slice(b, 0x2A0, 72), slice(b, 0x2E8, 72));
    }

    private static byte[] slice(byte[] b, int off, int n) {
        return Arrays.copyOfRange(b, off, off + n);
    }

    /** The 1184-byte encoding. */
    public byte[] toBytes() {
        ByteBuffer out = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        out.putInt(0x000, version).putInt(0x004, guestSvn).putLong(0x008, policy).put(0x010, familyId)
                .put(0x020, imageId).putInt(0x030, vmpl).putInt(0x034, signatureAlgo).putLong(0x038, currentTcb)
                .putLong(0x040, platformInfo).putInt(0x048, flags).putInt(0x04C, reserved04c).put(0x050, reportData)
                .put(0x090, measurement).put(0x0C0, hostData).put(0x0E0, idKeyDigest).put(0x110, authorKeyDigest)
                .put(0x140, reportId).put(0x160, reportIdMa).putLong(0x180, reportedTcb).put(0x188, cpuid)
                .put(0x1A0, chipId).putLong(0x1E0, committedTcb).put(0x1E8, firmwareVersions).putLong(0x1F0, launchTcb)
                .put(0x1F8, tail).put(0x2A0, signatureR).put(0x2E8, signatureS);
        return out.array();
    }

    /** Which key signed the report: {@link #SIGNING_KEY_VCEK}, {@link #SIGNING_KEY_VLEK} or 7 (none). */
    public int signingKey() {
        return (flags >>> 2) & 7;
    }

    /** Whether the guest policy allows debugging. */
    public boolean debug() {
        return (policy & POLICY_DEBUG) != 0;
    }

    /** CPUID family id (version 3 and later; zero before). */
    public int cpuidFamily() {
        return cpuid[0] & 0xff;
    }

    /** CPUID model id (version 3 and later; zero before). */
    public int cpuidModel() {
        return cpuid[1] & 0xff;
    }

    /** CPUID stepping (version 3 and later; zero before). */
    public int cpuidStepping() {
        return cpuid[2] & 0xff;
    }

    @Override public byte[] familyId() { return familyId.clone(); }
    @Override public byte[] imageId() { return imageId.clone(); }
    @Override public byte[] reportData() { return reportData.clone(); }
    @Override public byte[] measurement() { return measurement.clone(); }
    @Override public byte[] hostData() { return hostData.clone(); }
    @Override public byte[] idKeyDigest() { return idKeyDigest.clone(); }
    @Override public byte[] authorKeyDigest() { return authorKeyDigest.clone(); }
    @Override public byte[] reportId() { return reportId.clone(); }
    @Override public byte[] reportIdMa() { return reportIdMa.clone(); }
    @Override public byte[] cpuid() { return cpuid.clone(); }
    @Override public byte[] chipId() { return chipId.clone(); }
    @Override public byte[] firmwareVersions() { return firmwareVersions.clone(); }
    @Override public byte[] tail() { return tail.clone(); }
    @Override public byte[] signatureR() { return signatureR.clone(); }
    @Override public byte[] signatureS() { return signatureS.clone(); }
}
