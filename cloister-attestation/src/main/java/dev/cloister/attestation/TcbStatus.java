package dev.cloister.attestation;

import java.util.Arrays;

/**
 * The TCB status of a platform as Intel's TCB Info and QE Identity define it, after the status merge of
 * Intel's Quote Verification Library. Ordered from best to worst only where Intel defines an order; policy
 * decides which statuses it accepts, never this enum.
 */
public enum TcbStatus {
    UP_TO_DATE("UpToDate"),
    SW_HARDENING_NEEDED("SWHardeningNeeded"),
    CONFIGURATION_NEEDED("ConfigurationNeeded"),
    CONFIGURATION_AND_SW_HARDENING_NEEDED("ConfigurationAndSWHardeningNeeded"),
    OUT_OF_DATE("OutOfDate"),
    OUT_OF_DATE_CONFIGURATION_NEEDED("OutOfDateConfigurationNeeded"),
    REVOKED("Revoked"),
    /** TDX with TD report 1.5 only: the platform was updated since the TD launched; relaunching it fixes that. */
    TD_RELAUNCH_ADVISED("TDRelaunchAdvised"),
    /** As {@link #TD_RELAUNCH_ADVISED}, and the platform also needs a configuration change. */
    TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED("TDRelaunchAdvisedConfigurationNeeded");

    private final String intelName;

    TcbStatus(String intelName) {
        this.intelName = intelName;
    }

    /** The spelling Intel uses in TCB Info JSON and QVL results, e.g. {@code UpToDate}. */
    public String intelName() {
        return intelName;
    }

    /**
     * Parses Intel's spelling (case-sensitive, as in collateral JSON).
     *
     * @throws IllegalArgumentException naming the unknown value
     */
    public static TcbStatus fromIntelName(String name) {
        return Arrays.stream(values())
                .filter(s -> s.intelName.equals(name))
                .findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown TCB status: " + name));
    }
}
