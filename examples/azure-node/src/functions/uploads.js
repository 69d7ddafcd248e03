// A blob trigger: each new or changed file in container `uploads` is described in
// `descriptions/{name}.json`, from the trigger's metadata (path, URI, properties, metadata).
//   cp photo.png .fnwire/blobs/uploads/                 # a file dropped into the blob folder
//   cat .fnwire/blobs/descriptions/photo.png.json       # written by describeUpload
import { app, output } from '@azure/functions';

// `{name}` is the part of the uploaded blob's path that the trigger's `{name}` matched.
const description = output.storageBlob({ path: 'descriptions/{name}.json', connection: 'AzureWebJobsStorage' });

app.storageBlob('describeUpload', {
  path: 'uploads/{name}',
  connection: 'AzureWebJobsStorage',
  extraOutputs: [description],
  handler: async (blob, context) => {
    const { blobTrigger, name, uri, properties, metadata } = context.triggerMetadata;
    context.log(`Storage blob function processed blob "${blobTrigger}" with size ${blob.length} bytes`);
    context.extraOutputs.set(
      description,
      JSON.stringify({
        path: blobTrigger,
        name,
        uri,
        bytes: blob.length,
        isBuffer: Buffer.isBuffer(blob),
        length: properties?.length,
        contentType: properties?.contentType,
        etag: properties?.eTag,
        lastModified: properties?.lastModified,
        metadata,
      }),
    );
  },
});
