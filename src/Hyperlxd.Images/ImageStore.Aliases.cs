using Hyperlxd.Api;
using Hyperlxd.Core;

namespace Hyperlxd.Images;

/// <summary>Aliases: names that point at an image (what <c>lxc launch NAME</c> resolves first).</summary>
public sealed partial class ImageStore
{
    public Task<List<ImageAliasesEntry>> ListAliasesAsync(CancellationToken ct) => _repo.ListAliasesAsync(ct);

    public Task<ImageAliasesEntry> GetAliasAsync(string name, CancellationToken ct) => _repo.GetAliasAsync(name, ct);

    public async Task<ImageAliasesEntry> CreateAliasAsync(ImageAliasesEntry req, CancellationToken ct)
    {
        ValidateAliasName(req.Name);
        if (string.IsNullOrEmpty(req.Target))
        {
            throw new BadRequestException("Alias target is required");
        }
        var image = await GetAsync(req.Target, ct);
        var entry = new ImageAliasesEntry { Name = req.Name, Target = image.Fingerprint, Description = req.Description ?? "", Type = image.Type };
        await _repo.CreateAliasAsync(entry, ct);
        return entry;
    }

    public async Task UpdateAliasAsync(string name, ImageAliasesEntryPut req, bool patch, CancellationToken ct)
    {
        var current = await _repo.GetAliasAsync(name, ct);
        var target = req.Target is { Length: > 0 } t ? (await GetAsync(t, ct)) : patch ? await _repo.GetAsync(current.Target!, ct)
            : throw new BadRequestException("Alias target is required");
        var description = req.Description ?? (patch ? current.Description! : "");
        await _repo.UpdateAliasAsync(name, target.Fingerprint, target.Type, description, ct);
    }

    public async Task RenameAliasAsync(string name, string? newName, CancellationToken ct)
    {
        ValidateAliasName(newName);
        await _repo.RenameAliasAsync(name, newName!, ct);
    }

    public Task DeleteAliasAsync(string name, CancellationToken ct) => _repo.DeleteAliasAsync(name, ct);

    /// <summary>An alias name, or the storage key of another project's alias ("project/alias", <see cref="ProjectKeys"/>).</summary>
    public static void ValidateAliasName(string? name) => ValidateUserAliasName(name is null ? null : ProjectKeys.SplitScoped(name).Name);

    /// <summary>An alias name as a client sends it.</summary>
    public static void ValidateUserAliasName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new BadRequestException("Alias name is required");
        }
        if (name.Contains('/') || name.Any(char.IsWhiteSpace) || name.Contains(':'))
        {
            throw new BadRequestException($"Invalid alias name \"{name}\": no slashes, colons or white space");
        }
    }
}
