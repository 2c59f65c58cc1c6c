package dev.cloister.attestation.dcap;

import dev.cloister.attestation.TeeType;
import java.util.HexFormat;

/**
 * What collateral a quote needs: its TEE type, its platform family (FMSPC from the PCK certificate) and which PCK CA
 * issued its PCK ("processor" or "platform", which selects the PCK CRL).
 *
 * @param teeType SGX or TDX
 * @param fmspc 6 bytes
 * @param pckCa "processor" or "platform"
 */
public record CollateralRequest(TeeType teeType, byte[] fmspc, String pckCa) {
    public CollateralRequest {
        fmspc = Le.fixed(fmspc, 6, "fmspc");
        if (!pckCa.equals("processor") && !pckCa.equals("platform")) {
            throw new IllegalArgumentException("pckCa must be processor or platform, got " + pckCa);
        }
    }

    @Override
    public byte[] fmspc() {
        return fmspc.clone();
    }

    /** FMSPC as Intel's APIs spell it (upper-case hex). */
    public String fmspcHex() {
        return HexFormat.of().withUpperCase().formatHex(fmspc);
    }
}
