using Hyperlxd.Cli.Client;

namespace Hyperlxd.Cli;

/// <summary>Everything a command touches outside itself, so tests can run hlx in-process.</summary>
public sealed class CliContext
{
    private RemoteConfig? _config;

    public required TextWriter Out { get; init; }
    public required TextWriter Err { get; init; }
    public required TextReader In { get; init; }
    public required bool StdinIsTerminal { get; init; }
    public required Func<string, string?> Env { get; init; }

    /// <summary>Byte streams for exec and file transfer; null means "go through the text reader/writers".</summary>
    public Stream? RawIn { get; init; }

    public Stream? RawOut { get; init; }

    public Stream? RawErr { get; init; }

    public string ConfigDir => RemoteConfig.DefaultDir(Env);

    public RemoteConfig Config => _config ??= RemoteConfig.Load(ConfigDir);

    public static CliContext FromConsole() => new()
    {
        Out = Console.Out,
        Err = Console.Error,
        In = Console.In,
        StdinIsTerminal = !Console.IsInputRedirected,
        Env = Environment.GetEnvironmentVariable,
        RawIn = Console.OpenStandardInput(),
        RawOut = Console.OpenStandardOutput(),
        RawErr = Console.OpenStandardError(),
    };

    /// <summary>The daemon's socket for <c>unix://</c>: $HYPERLXD_DIR/unix.socket.</summary>
    public string SocketPath(RemoteEntry remote)
    {
        var path = remote.Addr["unix:".Length..].TrimStart('/');
        if (path.Length > 0)
            return "/" + path;
        var dir = Env("HYPERLXD_DIR");
        return Path.Combine(string.IsNullOrEmpty(dir) ? "/var/lib/hyperlxd" : dir, "unix.socket");
    }

    public HyperlxdClient Connect(string remoteName)
    {
        var remote = Config.Get(remoteName);
        if (remote.IsUnix)
            return HyperlxdClient.ForUnixSocket(SocketPath(remote));

        if (!Uri.TryCreate(remote.Addr, UriKind.Absolute, out var address) || address.Scheme != "https")
            throw new CliException($"Remote \"{remoteName}\" has an unsupported address \"{remote.Addr}\"");
        var pinnedPath = Config.ServerCertPath(remoteName);
        if (!File.Exists(pinnedPath))
            throw new CliException($"No pinned certificate for remote \"{remoteName}\" ({pinnedPath}); remove and re-add the remote");
        var clientCert = Certificates.LoadOrCreateClientCertificate(Config.ClientCertPath, Config.ClientKeyPath);
        using var pinned = Certificates.LoadPem(pinnedPath); // ForHttps keeps only its bytes
        return HyperlxdClient.ForHttps(address, clientCert, pinned);
    }
}
