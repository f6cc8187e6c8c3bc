using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;
using Hyperlxd.Cli.Output;

namespace Hyperlxd.Cli.Commands;

/// <summary><c>hlx remote add/list/remove/switch/get-default</c>; add follows lxc 5.0.2's trust flow.</summary>
public static class RemoteCommands
{
    public static IEnumerable<Command> All =>
    [
        new("remote add", "NAME URL|TOKEN", "Add a remote (trust via --password or a trust token)", 2, 2,
            ["password", "accept-certificate"], AddAsync),
        new("remote list", "", "List remotes", 0, 0, ["format"], ListAsync, ["ls"]),
        new("remote remove", "NAME", "Remove a remote", 1, 1, [], RemoveAsync, ["rm"]),
        new("remote switch", "NAME", "Make a remote the default", 1, 1, [], SwitchAsync),
        new("remote get-default", "", "Print the default remote", 0, 0, [], GetDefaultAsync),
    ];

    private static Task<int> ListAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Table, OutputFormat.Table, OutputFormat.Json, OutputFormat.Yaml);
        var config = call.Ctx.Config;
        var remotes = config.Remotes.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        if (format != OutputFormat.Table)
        {
            var map = new JsonObject();
            foreach (var (name, remote) in remotes)
            {
                map[name] = new JsonObject
                {
                    ["addr"] = remote.Addr,
                    ["protocol"] = remote.Protocol,
                    ["public"] = remote.Public,
                    ["default"] = name == config.DefaultRemote,
                };
            }

            using var doc = JsonDocument.Parse(map.ToJsonString());
            Formatter.Write(call.Out, doc.RootElement, format);
            return Task.FromResult(0);
        }

        call.Out.Write(Formatter.Table(
            ["NAME", "URL", "PROTOCOL", "AUTH TYPE", "PUBLIC"],
            remotes.Select(kv => (IReadOnlyList<string>)
            [
                kv.Key == config.DefaultRemote ? kv.Key + " (current)" : kv.Key,
                kv.Value.Addr,
                kv.Value.Protocol,
                kv.Value.IsUnix ? "file access" : "tls",
                kv.Value.Public ? "YES" : "NO",
            ])));
        return Task.FromResult(0);
    }

    private static Task<int> RemoveAsync(CommandCall call)
    {
        var config = call.Ctx.Config;
        var name = call.Args[0];
        config.Get(name);
        if (name == config.DefaultRemote)
            throw new CliException("Can't remove the default remote");
        config.Remotes.Remove(name);
        config.Save();
        if (File.Exists(config.ServerCertPath(name)))
            File.Delete(config.ServerCertPath(name));
        return Task.FromResult(0);
    }

    private static Task<int> SwitchAsync(CommandCall call)
    {
        var config = call.Ctx.Config;
        config.Get(call.Args[0]);
        config.DefaultRemote = call.Args[0];
        config.Save();
        return Task.FromResult(0);
    }

    private static Task<int> GetDefaultAsync(CommandCall call)
    {
        call.Out.WriteLine(call.Ctx.Config.DefaultRemote);
        return Task.FromResult(0);
    }

    /// <summary>lxc's address forms: "host", "host:port", "https://host[:port]"; the port defaults to 8443.</summary>
    public static Uri NormalizeAddress(string addr)
    {
        var text = addr.Contains("://", StringComparison.Ordinal) ? addr : "https://" + addr;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme != "https" || uri.Host.Length == 0
            || (uri.AbsolutePath != "/" && uri.AbsolutePath.Length > 0))
            throw new UsageException($"Invalid remote address \"{addr}\" (expected https://HOST[:PORT], HOST[:PORT] or a trust token)");
        var port = uri.IsDefaultPort && !text.Contains(":443", StringComparison.Ordinal) ? 8443 : uri.Port;
        return new UriBuilder("https", uri.Host, port).Uri;
    }

    private static void ValidateName(RemoteConfig config, string name)
    {
        if (name.Length == 0 || name.Contains(':') || name.Contains('/'))
            throw new UsageException($"Invalid remote name \"{name}\" (it can't be empty or contain ':' or '/')");
        if (config.Remotes.TryGetValue(name, out var existing))
            throw new CliException($"Remote {name} exists as <{existing.Addr}>");
    }

    private static async Task<int> AddAsync(CommandCall call)
    {
        var config = call.Ctx.Config;
        var (name, target) = (call.Args[0], call.Args[1]);
        ValidateName(config, name);

        if (target.StartsWith("unix:", StringComparison.Ordinal))
        {
            var entry = new RemoteEntry { Addr = target };
            config.Remotes[name] = entry;
            using (var client = call.Ctx.Connect(name))
                await client.QueryAsync(HttpMethod.Get, "/1.0", null, null);
            config.Save();
            return 0;
        }

        var token = CertificateToken.TryDecode(target);
        if (token is not null && call.Flag("password") is not null)
            throw new UsageException("--password can't be used with a trust token");
        var (address, serverCert) = token is not null
            ? await DialTokenAsync(call, token)
            : await FetchAndConfirmAsync(call, NormalizeAddress(target));

        var clientCert = Certificates.LoadOrCreateClientCertificate(config.ClientCertPath, config.ClientKeyPath);
        using (var client = HyperlxdClient.ForHttps(address, clientCert, serverCert))
        {
            var server = await client.GetAsync("/1.0", ApiJsonContext.Default.ServerUntrusted);
            if (server.Auth != "trusted")
            {
                if (!server.AuthMethods.Contains("tls"))
                    throw new CliException("The server doesn't support TLS client certificate authentication");

                var request = token is not null
                    ? new CertificatesPost { Type = "", Password = target.Trim(), Certificate = "", Name = token.ClientName }
                    : new CertificatesPost
                    {
                        Type = "client",
                        Password = call.Flag("password")
                            ?? throw new CliException("The server doesn't trust us yet: pass --password or use a trust token"),
                        Certificate = "",
                        Name = System.Net.Dns.GetHostName(),
                    };
                await client.QueryAsync(HttpMethod.Post, "/1.0/certificates",
                    HyperlxdClient.Serialize(request, ApiJsonContext.Default.CertificatesPost), null);

                server = await client.GetAsync("/1.0", ApiJsonContext.Default.ServerUntrusted);
                if (server.Auth != "trusted")
                    throw new CliException("Server doesn't trust us after authentication");
                call.Out.WriteLine($"Client certificate now trusted by server: {name}");
            }
        }

        // Persist only once the server trusts us, so a failed add leaves no half-configured remote.
        Certificates.SavePem(config.ServerCertPath(name), serverCert);
        config.Remotes[name] = new RemoteEntry { Addr = address.ToString().TrimEnd('/'), Protocol = "lxd" };
        config.Save();
        return 0;
    }

    /// <summary>Fetches the server certificate and shows its fingerprint; pinning it needs --accept-certificate.</summary>
    private static async Task<(Uri, X509Certificate2)> FetchAndConfirmAsync(CommandCall call, Uri address)
    {
        var cert = await Certificates.FetchServerCertificateAsync(address, CancellationToken.None);
        call.Out.WriteLine($"Certificate fingerprint: {Certificates.Fingerprint(cert)}");
        if (!call.Parsed.Has("accept-certificate"))
            throw new CliException("Refusing to trust the server certificate: hlx does not prompt; check the fingerprint and re-run with --accept-certificate");
        return (address, cert);
    }

    /// <summary>Tries each address in the token; the first whose certificate matches the token's fingerprint wins.</summary>
    private static async Task<(Uri, X509Certificate2)> DialTokenAsync(CommandCall call, CertificateAddToken token)
    {
        var problems = new List<string>();
        foreach (var addr in token.Addresses)
        {
            Uri address;
            try
            {
                address = NormalizeAddress(addr);
            }
            catch (UsageException e)
            {
                problems.Add(e.Message);
                continue;
            }

            try
            {
                var cert = await Certificates.FetchServerCertificateAsync(address, CancellationToken.None);
                var fingerprint = Certificates.Fingerprint(cert);
                if (string.Equals(fingerprint, token.Fingerprint, StringComparison.OrdinalIgnoreCase))
                    return (address, cert);
                problems.Add($"{addr}: certificate fingerprint {fingerprint} doesn't match the token");
            }
            catch (CliException e)
            {
                problems.Add(e.Message);
            }
        }

        throw new CliException("Unable to connect to any of the addresses in the token:\n  " + string.Join("\n  ", problems));
    }
}
