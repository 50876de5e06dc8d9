/** A program an adapter runs on the agent's machine, and the Debian package that provides it. */
export interface RequiredTool {
  command: string;
  debianPackage: string;
  /** What the adapter needs it for, for the person who installs it. */
  purpose: string;
}

/**
 * Programs the adapters run, by target kind; `sync-agent doctor` checks each kind this agent has
 * an adapter for. Kinds not listed run none: SSH (workstation), SQL (service) and HTTP (web) are
 * built into the agent.
 */
export const ADAPTER_TOOLS: Readonly<Record<string, readonly RequiredTool[]>> = {
  windows: [
    { command: 'rpcclient', debianPackage: 'smbclient', purpose: 'SMB logons and SAMR password changes' },
    { command: 'stdbuf', debianPackage: 'coreutils', purpose: 'line-buffered answers from rpcclient' },
  ],
};
