using System.Globalization;
using System.Net.Http.Headers;
using Hyperlxd.Cli.Client;

namespace Hyperlxd.Cli.Commands;

/// <summary><c>hlx file push/pull</c> (raw bodies with X-LXD-* headers) and <c>hlx console --show-log</c>.</summary>
public static partial class InstanceCommands
{
    private static IEnumerable<Command> FileCommands =>
    [
        new("file push", "SOURCE [REMOTE:]NAME/PATH", "Copy a file into an instance (\"-\" reads stdin)", 2, 2, ["uid", "gid", "mode"], FilePushAsync),
        new("file pull", "[REMOTE:]NAME/PATH DEST", "Copy a file out of an instance (\"-\" writes stdout)", 2, 2, [], FilePullAsync),
        new("console", "[REMOTE:]NAME", "Show an instance's console log (--show-log)", 1, 1, ["show-log"], ConsoleAsync),
    ];

    /// <summary>"r:c1/etc/hosts" → (r, c1, /etc/hosts).</summary>
    public static (string Remote, string Name, string Path) FileTarget(RemoteConfigView config, string arg)
    {
        var (remote, rest) = config(arg);
        var slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1)
            throw new UsageException($"Invalid target \"{arg}\": expected NAME/PATH");
        return (remote, rest[..slash], rest[slash..]);
    }

    public delegate (string Remote, string Name) RemoteConfigView(string arg);

    private static string FilesPath(string name, string path) =>
        InstancePath(name) + "/files?path=" + Uri.EscapeDataString(path);

    /// <summary>An octal mode as lxc takes it ("0644", "644"); null when not given.</summary>
    public static string? ParseMode(string? value)
    {
        if (value is null)
            return null;
        try
        {
            var mode = Convert.ToInt32(value, 8);
            if (mode is < 0 or > 0xfff)
                throw new FormatException();
            return "0" + Convert.ToString(mode, 8);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            throw new UsageException($"Invalid --mode \"{value}\": an octal mode such as 0644 is expected");
        }
    }

    private static string? ParseId(CommandCall call, string flag)
    {
        var value = call.Flag(flag);
        if (value is null)
            return null;
        if (!uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            throw new UsageException($"Invalid --{flag} \"{value}\": a number is expected");
        return value;
    }

    private static async Task<int> FilePushAsync(CommandCall call)
    {
        var source = call.Args[0];
        var (remote, name, path) = FileTarget(a => call.Ctx.Config.ParseRemote(a), call.Args[1]);
        // "c1/tmp/" means "into /tmp under the source's name", as with cp.
        if (path.EndsWith('/'))
        {
            if (source == "-")
                throw new UsageException("A target file name is needed when pushing stdin");
            path += Path.GetFileName(source);
        }

        var mode = ParseMode(call.Flag("mode"));
        Stream content;
        if (source == "-")
        {
            content = call.Ctx.RawIn ?? new MemoryStream(System.Text.Encoding.UTF8.GetBytes(await call.Ctx.In.ReadToEndAsync()));
        }
        else
        {
            if (!File.Exists(source))
                throw new CliException($"Failed to open \"{source}\": no such file");
            content = File.OpenRead(source);
            mode ??= "0" + Convert.ToString((int)File.GetUnixFileMode(source) & 0xfff, 8);
        }

        await using (content)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, FilesPath(name, path)) { Content = new StreamContent(content) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            request.Headers.Add("X-LXD-type", "file");
            request.Headers.Add("X-LXD-write", "overwrite");
            request.Headers.Add("X-LXD-uid", ParseId(call, "uid") ?? "0");
            request.Headers.Add("X-LXD-gid", ParseId(call, "gid") ?? "0");
            request.Headers.Add("X-LXD-mode", mode ?? "0644");
            using var client = call.Ctx.Connect(remote);
            using var response = await client.SendRawAsync(request);
        }

        return 0;
    }

    private static async Task<int> FilePullAsync(CommandCall call)
    {
        var (remote, name, path) = FileTarget(a => call.Ctx.Config.ParseRemote(a), call.Args[0]);
        var dest = call.Args[1];
        if (dest != "-" && Directory.Exists(dest))
            dest = Path.Combine(dest, Path.GetFileName(path.TrimEnd('/')));

        using var client = call.Ctx.Connect(remote);
        using var request = new HttpRequestMessage(HttpMethod.Get, FilesPath(name, path));
        using var response = await client.SendRawAsync(request);
        var type = response.Headers.TryGetValues("X-LXD-type", out var types) ? types.FirstOrDefault() : "file";
        if (type == "directory")
            throw new CliException($"\"{path}\" is a directory; recursive pull is not supported");

        await using var body = await response.Content.ReadAsStreamAsync();
        if (dest == "-")
        {
            await CopyToOutputAsync(call.Ctx, body);
            return 0;
        }

        await using (var file = File.Create(dest))
            await body.CopyToAsync(file);
        // Keep the permission bits the file has in the instance, as lxc does.
        if (response.Headers.TryGetValues("X-LXD-mode", out var modes) && modes.FirstOrDefault() is { Length: > 0 } text
            && text.All(c => c is >= '0' and <= '7') && text.Length <= 6)
            File.SetUnixFileMode(dest, (UnixFileMode)(Convert.ToInt32(text, 8) & 0x1ff));

        return 0;
    }

    private static async Task CopyToOutputAsync(CliContext ctx, Stream body)
    {
        if (ctx.RawOut is { } raw)
        {
            await ctx.Out.FlushAsync();
            await body.CopyToAsync(raw);
            await raw.FlushAsync();
            return;
        }

        using var reader = new StreamReader(body);
        await ctx.Out.WriteAsync(await reader.ReadToEndAsync());
    }

    private static async Task<int> ConsoleAsync(CommandCall call)
    {
        if (!call.Parsed.Has("show-log"))
            throw new UsageException("Only the console log is supported: pass --show-log");
        var (remote, name) = Target(call, call.Args[0]);
        using var client = call.Ctx.Connect(remote);
        using var request = new HttpRequestMessage(HttpMethod.Get, InstancePath(name) + "/console");
        using var response = await client.SendRawAsync(request);
        await using var body = await response.Content.ReadAsStreamAsync();
        await CopyToOutputAsync(call.Ctx, body);
        return 0;
    }
}
