using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

/// <summary>
/// Source-generated serializers for every wire type: no reflection at run time, and one place
/// that fixes LXD's snake_case naming. Types that travel inside <c>object</c>-typed metadata
/// (operation metadata, server config values) must be listed here too.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(Response))]
[JsonSerializable(typeof(ServerPut))]
[JsonSerializable(typeof(ServerUntrusted))]
[JsonSerializable(typeof(Server))]
[JsonSerializable(typeof(Profile))]
[JsonSerializable(typeof(List<Profile>))]
[JsonSerializable(typeof(ProfilePut))]
[JsonSerializable(typeof(ProfilesPost))]
[JsonSerializable(typeof(ProfilePost))]
[JsonSerializable(typeof(Project))]
[JsonSerializable(typeof(List<Project>))]
[JsonSerializable(typeof(Certificate))]
[JsonSerializable(typeof(List<Certificate>))]
[JsonSerializable(typeof(CertificatesPost))]
[JsonSerializable(typeof(CertificatePut))]
[JsonSerializable(typeof(CertificateAddToken))]
[JsonSerializable(typeof(Operation))]
[JsonSerializable(typeof(List<Operation>))]
[JsonSerializable(typeof(Dictionary<string, List<Operation>>))]
[JsonSerializable(typeof(Event))]
[JsonSerializable(typeof(EventLifecycle))]
[JsonSerializable(typeof(EventLogging))]
[JsonSerializable(typeof(Image))]
[JsonSerializable(typeof(List<Image>))]
[JsonSerializable(typeof(ImagePut))]
[JsonSerializable(typeof(ImagesPost))]
[JsonSerializable(typeof(ImageAlias))]
[JsonSerializable(typeof(ImageSource))]
[JsonSerializable(typeof(ImagesPostSource))]
[JsonSerializable(typeof(ImageAliasesEntry))]
[JsonSerializable(typeof(List<ImageAliasesEntry>))]
[JsonSerializable(typeof(ImageAliasesEntryPut))]
[JsonSerializable(typeof(ImageAliasesEntryPost))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(Dictionary<string, object?>))]
[JsonSerializable(typeof(Dictionary<string, Dictionary<string, string>>))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(object))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
