package dev.cloister.attestation.dcap;

import java.util.List;

/**
 * A platform TCB level of a TCB Info: minimum SGX component SVNs and PCESVN (and for TDX, TEE_TCB_SVN components),
 * with the status a platform at or above it has.
 *
 * @param sgxComponents 16 SVNs
 * @param pceSvn minimum PCESVN
 * @param tdxComponents 16 SVNs for TDX, {@code null} for SGX
 * @param tcbDate Intel's date string for the level
 * @param tcbStatus status name as Intel spells it
 * @param advisoryIds advisories that apply at this level
 */
public record TcbLevel(int[] sgxComponents, int pceSvn, int[] tdxComponents, String tcbDate, String tcbStatus,
        List<String> advisoryIds) {
    public TcbLevel {
        if (sgxComponents == null || sgxComponents.length != 16) {
            throw new IllegalArgumentException("a TCB level has 16 SGX components");
        }
        if (tdxComponents != null && tdxComponents.length != 16) {
            throw new IllegalArgumentException("a TCB level has 16 TDX components");
        }
        sgxComponents = sgxComponents.clone();
        tdxComponents = tdxComponents == null ? null : tdxComponents.clone();
        advisoryIds = List.copyOf(advisoryIds);
    }

    @Override public int[] sgxComponents() { return sgxComponents.clone(); }
    @Override public int[] tdxComponents() { return tdxComponents == null ? null : tdxComponents.clone(); }

    int sgx(int i) {
        return sgxComponents[i];
    }

    int tdx(int i) {
        return tdxComponents[i];
    }

    boolean hasTdx() {
        return tdxComponents != null;
    }

    /** Intel's order (QVL's std::set with greater-than): SGX components, then PCESVN, then TDX components. */
    static int compareDescending(TcbLevel a, TcbLevel b) {
        for (int i = 0; i < 16; i++) {
            if (a.sgxComponents[i] != b.sgxComponents[i]) {
                return Integer.compare(b.sgxComponents[i], a.sgxComponents[i]);
            }
        }
        if (a.pceSvn != b.pceSvn) {
            return Integer.compare(b.pceSvn, a.pceSvn);
        }
        if (a.tdxComponents != null && b.tdxComponents != null) {
            for (int i = 0; i < 16; i++) {
                if (a.tdxComponents[i] != b.tdxComponents[i]) {
                    return Integer.compare(b.tdxComponents[i], a.tdxComponents[i]);
                }
            }
        }
        return 0;
    }
}
