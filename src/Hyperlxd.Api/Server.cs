using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

/// <summary>Writable part of the server object (<c>PUT /1.0</c>).</summary>
public sealed class ServerPut
{
    public Dictionary<string, string> Config { get; set; } = new();
}

/// <summary>What an untrusted caller sees on <c>GET /1.0</c>.</summary>
public class ServerUntrusted
{
    public List<string> ApiExtensions { get; set; } = new();
    public string ApiStatus { get; set; } = "stable";
    public string ApiVersion { get; set; } = "1.0";
    public string Auth { get; set; } = "untrusted";
    public bool Public { get; set; }
    public List<string> AuthMethods { get; set; } = new() { "tls" };
}

/// <summary>The full server object (<c>GET /1.0</c> for a trusted caller).</summary>
public sealed class Server : ServerUntrusted
{
    public Dictionary<string, object> Config { get; set; } = new();
    public ServerEnvironment Environment { get; set; } = new();
}

public sealed class ServerEnvironment
{
    public List<string> Addresses { get; set; } = new();
    public List<string> Architectures { get; set; } = new();
    public string Certificate { get; set; } = "";
    public string CertificateFingerprint { get; set; } = "";
    public string Driver { get; set; } = "";
    public string DriverVersion { get; set; } = "";
    public string Firewall { get; set; } = "";
    public string Kernel { get; set; } = "";
    public string KernelArchitecture { get; set; } = "";
    public Dictionary<string, string> KernelFeatures { get; set; } = new();
    public string KernelVersion { get; set; } = "";
    public Dictionary<string, string> LxcFeatures { get; set; } = new();
    public string OsName { get; set; } = "";
    public string OsVersion { get; set; } = "";
    public string Project { get; set; } = "default";
    public string Server { get; set; } = "lxd";
    public bool ServerClustered { get; set; }
    public string ServerEventMode { get; set; } = "full-mesh";
    public string ServerName { get; set; } = "";
    public int ServerPid { get; set; }
    public string ServerVersion { get; set; } = "";
    public string Storage { get; set; } = "";
    public string StorageVersion { get; set; } = "";
    public List<StorageSupportedDriver> StorageSupportedDrivers { get; set; } = new();

    /// <summary>Hyperlxd extension: what VMs run on, "kvm" or "tcg" ("" when the VM driver is unavailable).</summary>
    public string VmAccelerator { get; set; } = "";
}

/// <summary>LXD 5.0.2 sends these keys capitalised (its Go struct has no json tags).</summary>
public sealed class StorageSupportedDriver
{
    [JsonPropertyName("Name")] public string Name { get; set; } = "";
    [JsonPropertyName("Version")] public string Version { get; set; } = "";
    [JsonPropertyName("Remote")] public bool Remote { get; set; }
}
