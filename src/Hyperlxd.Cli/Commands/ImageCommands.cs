using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;
using Hyperlxd.Cli.Output;

namespace Hyperlxd.Cli.Commands;

/// <summary><c>hlx image ...</c>: the requests <c>lxc image</c> sends (lxd-api-5.0.2.md §2), with progress on stderr.</summary>
public static class ImageCommands
{
    public static IEnumerable<Command> All =>
    [
        new("image import", "FILE [ROOTFS] [REMOTE:]", "Import an image (unified tarball, or metadata + rootfs)", 1, 3, ["alias", "public"], ImportAsync),
        new("image list", "[REMOTE:]", "List images", 0, 1, ["format"], ListAsync, ["ls"]),
        new("image show", "[REMOTE:]IMAGE", "Show an image", 1, 1, ["format"], ShowAsync),
        new("image delete", "[REMOTE:]IMAGE...", "Delete images", 1, Command.Unlimited, [], DeleteAsync, ["rm"]),
        new("image export", "[REMOTE:]IMAGE [TARGET]", "Export an image's original files", 1, 2, [], ExportAsync),
        new("image alias create", "[REMOTE:]ALIAS FINGERPRINT", "Create an alias", 2, 2, ["description"], AliasCreateAsync),
        new("image alias delete", "[REMOTE:]ALIAS", "Delete an alias", 1, 1, [], AliasDeleteAsync, ["rm"]),
        new("image alias rename", "[REMOTE:]OLD NEW", "Rename an alias", 2, 2, [], AliasRenameAsync, ["mv"]),
        new("image alias list", "[REMOTE:]", "List aliases", 0, 1, ["format"], AliasListAsync, ["ls"]),
    ];

    private static string AliasPath(string name) => "/1.0/images/aliases/" + Uri.EscapeDataString(name);

    /// <summary>An alias first, then a fingerprint (prefix), as lxc resolves image names.</summary>
    private static async Task<string> ResolveAsync(HyperlxdClient client, string name)
    {
        try
        {
            var alias = await client.QueryAsync(HttpMethod.Get, AliasPath(name), null, null);
            return alias.Metadata.GetProperty("target").GetString()!;
        }
        catch (ApiException e) when (e.StatusCode == 404)
        {
            var image = await client.QueryAsync(HttpMethod.Get, "/1.0/images/" + Uri.EscapeDataString(name), null, null);
            return image.Metadata.GetProperty("fingerprint").GetString()!;
        }
    }

    private static (string Remote, string Name) Target(CommandCall call, string arg) => call.Ctx.Config.ParseRemote(arg);

    private static async Task<int> ImportAsync(CommandCall call)
    {
        var files = call.Args.ToList();
        var remote = call.Ctx.Config.DefaultRemote;
        if (files.Count > 1 && files[^1].EndsWith(':'))
        {
            remote = files[^1][..^1];
            files.RemoveAt(files.Count - 1);
        }
        if (files.Count is < 1 or > 2)
            throw new UsageException("image import takes FILE or METADATA ROOTFS");
        foreach (var f in files)
        {
            if (!File.Exists(f))
                throw new CliException($"{f}: no such file");
        }
        using var client = call.Ctx.Connect(remote);
        var total = files.Sum(f => new FileInfo(f).Length);
        var progress = new Progress("Transferring image", total);
        var headers = new Dictionary<string, string>();
        if (call.Parsed.Has("public"))
            headers["X-LXD-public"] = "true";
        // Each FileStream is owned by its ProgressStream, that by its FileContent, that by the form:
        // `using (content)` below disposes the chain.
#pragma warning disable CA2000
        HttpContent content;
        if (files.Count == 1)
        {
            headers["X-LXD-filename"] = Path.GetFileName(files[0]);
            content = new FileContent(progress.Wrap(File.OpenRead(files[0])), total);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        }
        else
        {
            var form = new MultipartFormDataContent();
            var metaLength = new FileInfo(files[0]).Length;
            form.Add(new FileContent(progress.Wrap(File.OpenRead(files[0])), metaLength), "metadata", Path.GetFileName(files[0]));
            var rootfsPart = IsQcow2(files[1]) ? "rootfs.img" : "rootfs";
            form.Add(new FileContent(progress.Wrap(File.OpenRead(files[1]), metaLength), new FileInfo(files[1]).Length), rootfsPart, Path.GetFileName(files[1]));
            content = form;
        }
#pragma warning restore CA2000
        ApiResult result;
        using (content)
        {
            result = await client.UploadAsync("/1.0/images", content, headers);
        }
        progress.Done();
        var fp = result.Metadata.GetProperty("metadata").GetProperty("fingerprint").GetString()!;
        if (call.Flag("alias") is { Length: > 0 } alias)
        {
            var body = HyperlxdClient.Serialize(new ImageAliasesEntry { Name = alias, Target = fp, Description = "" }, ApiJsonContext.Default.ImageAliasesEntry);
            await client.QueryAsync(HttpMethod.Post, "/1.0/images/aliases", body, null);
        }
        call.Out.WriteLine($"Image imported with fingerprint: {fp}");
        return 0;
    }

    private static bool IsQcow2(string path)
    {
        Span<byte> head = stackalloc byte[4];
        using var f = File.OpenRead(path);
        return f.Read(head) == 4 && head.SequenceEqual(new byte[] { (byte)'Q', (byte)'F', (byte)'I', 0xfb });
    }

    private static async Task<int> ListAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Table, OutputFormat.Table, OutputFormat.Json, OutputFormat.Yaml);
        var (remote, _) = call.Args.Count > 0 ? Target(call, call.Args[0]) : (call.Ctx.Config.DefaultRemote, "");
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, "/1.0/images?recursion=1", null, null);
        if (format != OutputFormat.Table)
        {
            Formatter.Write(call.Out, result.Metadata, format);
            return 0;
        }
        var images = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.ListImage, "/1.0/images");
        call.Out.Write(Formatter.Table(
            ["ALIAS", "FINGERPRINT", "PUBLIC", "DESCRIPTION", "ARCHITECTURE", "TYPE", "SIZE", "UPLOAD DATE"],
            images.OrderBy(i => i.Aliases.FirstOrDefault()?.Name ?? "~" + i.Fingerprint, StringComparer.Ordinal).Select(i => (IReadOnlyList<string>)
            [
                string.Join("\n", i.Aliases.Select(a => a.Name)),
                i.Fingerprint[..12],
                i.Public ? "yes" : "no",
                i.Properties.GetValueOrDefault("description", ""),
                i.Architecture,
                i.Type.ToUpperInvariant(),
                $"{i.Size / 1048576.0:0.00}MiB",
                i.UploadedAt.ToString("MMM d, yyyy 'at' h:mmtt '(UTC)'", CultureInfo.InvariantCulture),
            ])));
        return 0;
    }

    private static async Task<int> ShowAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Yaml, OutputFormat.Yaml, OutputFormat.Json);
        var (remote, name) = Target(call, call.Args[0]);
        using var client = call.Ctx.Connect(remote);
        var fp = await ResolveAsync(client, name);
        Formatter.Write(call.Out, (await client.QueryAsync(HttpMethod.Get, "/1.0/images/" + fp, null, null)).Metadata, format);
        return 0;
    }

    private static async Task<int> DeleteAsync(CommandCall call)
    {
        foreach (var arg in call.Args)
        {
            var (remote, name) = Target(call, arg);
            #pragma warning disable CA2000 // false positive: a using declaration in a loop of an async method
            using var client = call.Ctx.Connect(remote);
            #pragma warning restore CA2000
            var fp = await ResolveAsync(client, name);
            await client.QueryAsync(HttpMethod.Delete, "/1.0/images/" + fp, null, null);
        }
        return 0;
    }

    /// <summary>Unified: one file named as the server says (or TARGET). Split: TARGET and TARGET.root, like lxc.</summary>
    private static async Task<int> ExportAsync(CommandCall call)
    {
        var (remote, name) = Target(call, call.Args[0]);
        using var client = call.Ctx.Connect(remote);
        var fp = await ResolveAsync(client, name);
        var size = (await client.QueryAsync(HttpMethod.Get, "/1.0/images/" + fp, null, null)).Metadata.GetProperty("size").GetInt64();
        var target = call.Args.Count > 1 ? call.Args[1] : ".";
        using var response = await client.DownloadAsync($"/1.0/images/{fp}/export");
        var progress = new Progress("Exporting the image", size);
        await using var body = progress.Wrap(await response.Content.ReadAsStreamAsync());
        var mediaType = response.Content.Headers.ContentType;
        var written = new List<string>();
        if (mediaType?.MediaType == "multipart/form-data")
        {
            var boundary = mediaType.Parameters.First(p => p.Name == "boundary").Value!.Trim('"');
            var baseName = Directory.Exists(target) ? Path.Combine(target, fp) : target;
            var index = 0;
            await MultipartSplitter.SplitAsync(body, boundary, part =>
            {
                var path = index++ == 0 ? baseName : baseName + ".root";
                written.Add(path);
                return File.Create(path);
            });
        }
        else
        {
            var filename = response.Content.Headers.ContentDisposition?.FileName?.Trim('"') ?? fp + ".tar.gz";
            var path = Directory.Exists(target) ? Path.Combine(target, Path.GetFileName(filename)) : target;
            await using (var f = File.Create(path))
            {
                await body.CopyToAsync(f);
            }
            written.Add(path);
        }
        progress.Done();
        call.Out.WriteLine("Image exported successfully!");
        return 0;
    }

    private static async Task<int> AliasCreateAsync(CommandCall call)
    {
        var (remote, name) = Target(call, call.Args[0]);
        using var client = call.Ctx.Connect(remote);
        var body = HyperlxdClient.Serialize(new ImageAliasesEntry { Name = name, Target = call.Args[1], Description = call.Flag("description") ?? "" }, ApiJsonContext.Default.ImageAliasesEntry);
        await client.QueryAsync(HttpMethod.Post, "/1.0/images/aliases", body, null);
        return 0;
    }

    private static async Task<int> AliasDeleteAsync(CommandCall call)
    {
        var (remote, name) = Target(call, call.Args[0]);
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Delete, AliasPath(name), null, null);
        return 0;
    }

    private static async Task<int> AliasRenameAsync(CommandCall call)
    {
        var (remote, name) = Target(call, call.Args[0]);
        using var client = call.Ctx.Connect(remote);
        var body = HyperlxdClient.Serialize(new ImageAliasesEntryPost { Name = call.Args[1] }, ApiJsonContext.Default.ImageAliasesEntryPost);
        await client.QueryAsync(HttpMethod.Post, AliasPath(name), body, null);
        return 0;
    }

    private static async Task<int> AliasListAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Table, OutputFormat.Table, OutputFormat.Json, OutputFormat.Yaml);
        var (remote, _) = call.Args.Count > 0 ? Target(call, call.Args[0]) : (call.Ctx.Config.DefaultRemote, "");
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, "/1.0/images/aliases?recursion=1", null, null);
        if (format != OutputFormat.Table)
        {
            Formatter.Write(call.Out, result.Metadata, format);
            return 0;
        }
        var aliases = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.ListImageAliasesEntry, "/1.0/images/aliases");
        call.Out.Write(Formatter.Table(["ALIAS", "FINGERPRINT", "TYPE", "DESCRIPTION"],
            aliases.Select(a => (IReadOnlyList<string>)[a.Name ?? "", (a.Target ?? "")[..Math.Min(12, a.Target?.Length ?? 0)], (a.Type ?? "").ToUpperInvariant(), a.Description ?? ""])));
        return 0;
    }
}

/// <summary>Streams each part of a multipart body into a stream the caller opens (no buffering of whole parts).</summary>
public static class MultipartSplitter
{
    public static async Task SplitAsync(Stream body, string boundary, Func<string, Stream> open)
    {
        await using var input = new BufferedStream(body, 1 << 16); // disposes body too: the caller is done with it
        var first = Encoding.ASCII.GetBytes("--" + boundary);
        var delimiter = Encoding.ASCII.GetBytes("\r\n--" + boundary);
        // Preamble up to the first boundary line.
        if (!await SkipPastAsync(input, first))
            throw new CliException("Invalid export: no multipart boundary");
        while (true)
        {
            var after = new[] { input.ReadByte(), input.ReadByte() };
            if (after[0] == '-' && after[1] == '-')
                return;
            var headers = await ReadHeadersAsync(input);
            await using var output = new BufferedStream(open(headers), 1 << 16);
            var m = 0;
            int b;
            while ((b = input.ReadByte()) >= 0)
            {
                if (b == delimiter[m])
                {
                    if (++m == delimiter.Length)
                        break;
                    continue;
                }
                output.Write(delimiter, 0, m);
                m = b == delimiter[0] ? 1 : 0;
                if (m == 0)
                    output.WriteByte((byte)b);
            }
            if (b < 0)
                throw new CliException("Invalid export: truncated multipart body");
        }
    }

    private static async Task<bool> SkipPastAsync(Stream input, byte[] marker)
    {
        var m = 0;
        int b;
        while ((b = input.ReadByte()) >= 0)
        {
            m = b == marker[m] ? m + 1 : b == marker[0] ? 1 : 0;
            if (m == marker.Length)
                return await Task.FromResult(true);
        }
        return false;
    }

    private static Task<string> ReadHeadersAsync(Stream input)
    {
        var sb = new StringBuilder();
        int b;
        while ((b = input.ReadByte()) >= 0)
        {
            sb.Append((char)b);
            if (sb.Length >= 4 && sb[^4] == '\r' && sb[^3] == '\n' && sb[^2] == '\r' && sb[^1] == '\n')
                break;
        }
        return Task.FromResult(sb.ToString());
    }
}
