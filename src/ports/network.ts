/**
 * Container networks on an agent (Mesos' network/cni isolator): a task whose ContainerInfo names
 * a network gets a network namespace of its own, attached to each named network before the task
 * starts and detached after it ends. The `cni` adapter implements it with the CNI plugins.
 */

/** host_port -> container_port, as in Mesos NetworkInfo.port_mappings. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

export interface NetworkRequest {
  /** A network the agent knows (`names()`). */
  name: string;
  portMappings: PortMapping[];
}

export interface AttachedNetwork {
  name: string;
  /** The container's interface in its namespace (eth0, eth1, ...). */
  ifName: string;
  /** IPv4 addresses without prefix length. */
  ips: string[];
  portMappings: PortMapping[];
}

export interface NetworkSetup {
  /** The network namespace the container joins (a file a process can `setns` to). */
  netnsPath: string;
  networks: AttachedNetwork[];
}

export interface ContainerNetworks {
  /** The networks tasks may name. */
  names(): string[];
  /**
   * Makes the container's namespace and attaches it to every requested network, in order.
   * On failure nothing is left behind and the promise rejects with a message for the task.
   */
  attach(containerId: string, requests: readonly NetworkRequest[]): Promise<NetworkSetup>;
  /** Detaches every network and removes the namespace. Quiet when the container has none. */
  detach(containerId: string): Promise<void>;
  /** What attach() made for a container (after an agent restart), or undefined. */
  inspect(containerId: string): Promise<NetworkSetup | undefined>;
  /** Containers that still have a namespace or networks recorded (to find leftovers). */
  list(): Promise<string[]>;
}
